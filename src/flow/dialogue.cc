#include "sspr/flow/dialogue.h"

namespace sspr::flow {

void Dialogue::Say(wire::MsgId id, std::vector<std::string> params) {
  m_pending.push_back({wire::Style::kInfo, 0, static_cast<std::uint16_t>(id), std::move(params)});
}

void Dialogue::SayError(wire::MsgId id, std::vector<std::string> params) {
  m_pending.push_back({wire::Style::kError, 0, static_cast<std::uint16_t>(id), std::move(params)});
}

Result<Secret> Dialogue::Ask(wire::MsgId id, bool echo, std::uint8_t flags,
                             std::vector<std::string> params) {
  wire::StepMsg step;
  // Keep a step within kMaxItems: older lines would have been shown already.
  while (m_pending.size() + 1 > wire::kMaxItems) m_pending.erase(m_pending.begin());
  step.items = std::move(m_pending);
  m_pending.clear();
  step.items.push_back({echo ? wire::Style::kPromptEchoOn : wire::Style::kPromptEchoOff, flags,
                        static_cast<std::uint16_t>(id), std::move(params)});
  return Exchange(std::move(step));
}

Status Dialogue::Finish(wire::Outcome outcome) {
  wire::ResultMsg result;
  while (m_pending.size() > wire::kMaxItems) m_pending.erase(m_pending.begin());
  result.outcome = outcome;
  result.items = std::move(m_pending);
  m_pending.clear();
  return SendResult(std::move(result));
}

}  // namespace sspr::flow

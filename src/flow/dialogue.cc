#include "sspr/flow/dialogue.h"

#include <algorithm>
#include <iterator>

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

Status Dialogue::Flush() {
  while (!m_pending.empty()) {
    wire::StepMsg step;
    std::size_t n = std::min(m_pending.size(), wire::kMaxItems);
    step.items.assign(std::make_move_iterator(m_pending.begin()),
                      std::make_move_iterator(m_pending.begin() + static_cast<long>(n)));
    m_pending.erase(m_pending.begin(), m_pending.begin() + static_cast<long>(n));
    auto r = Exchange(std::move(step));  // answered with kAnswerNone
    if (!r) return Fail(std::move(r).error());
  }
  return {};
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

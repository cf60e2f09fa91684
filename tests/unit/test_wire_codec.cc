// The frame codec: round trips, and every way a hostile peer can break a
// frame is refused (STYLE.md: every strict prefix, every flipped length byte).
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "sspr/wire/catalog.h"
#include "sspr/wire/codec.h"
#include "check_main.h"  // last: Check defines a fail() macro

using namespace sspr::wire;

namespace {

std::vector<std::uint8_t> Payload(const Buffer& frame) {
  // Strip the 4-byte length prefix, checking it matches.
  const auto& b = frame.bytes();
  ck_assert_uint_ge(b.size(), 6);
  std::uint32_t len = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                      (std::uint32_t{b[2]} << 8) | b[3];
  ck_assert_uint_eq(len, b.size() - 4);
  return std::vector<std::uint8_t>(b.begin() + 4, b.end());
}

StartMsg SampleStart() {
  StartMsg s;
  s.flow = Flow::kReset;
  s.account = "alice";
  s.service = "login";
  s.tty = "/dev/tty1";
  s.rhost = "";
  return s;
}

StepMsg SampleStep() {
  StepMsg s;
  s.items.push_back({Style::kInfo, 0, 20, {"a\xE2\x80\xA2\xE2\x80\xA2\xE2\x80\xA2@e.org", "5"}});
  s.items.push_back({Style::kPromptEchoOff, kItemNewAuthtok, 30, {}});
  return s;
}

}  // namespace

START_TEST(start_round_trips) {
  auto p = Payload(Encode(SampleStart()));
  StartMsg out;
  const char* err = nullptr;
  ck_assert(Decode(p, out, &err));
  ck_assert_str_eq(out.account.c_str(), "alice");
  ck_assert_str_eq(out.service.c_str(), "login");
  ck_assert_str_eq(out.tty.c_str(), "/dev/tty1");
  ck_assert(out.flow == Flow::kReset);
}
END_TEST

START_TEST(step_and_result_round_trip) {
  auto p = Payload(Encode(SampleStep()));
  StepMsg out;
  ck_assert(Decode(p, out, nullptr));
  ck_assert_uint_eq(out.items.size(), 2);
  ck_assert_uint_eq(out.items[1].flags, kItemNewAuthtok);
  ck_assert_uint_eq(out.items[0].params.size(), 2);
  ResultMsg r;
  r.outcome = Outcome::kPasswordWritten;
  r.items.push_back({Style::kInfo, 0, 40, {}});
  ResultMsg rout;
  ck_assert(Decode(Payload(Encode(r)), rout, nullptr));
  ck_assert(rout.outcome == Outcome::kPasswordWritten);
}
END_TEST

START_TEST(answer_round_trips) {
  AnswerMsg a;
  a.answer = "Secret-Pass-1";
  AnswerMsg out;
  ck_assert(Decode(Payload(Encode(a)), out, nullptr));
  ck_assert_str_eq(out.answer.c_str(), "Secret-Pass-1");
}
END_TEST

START_TEST(decode_rejects_every_strict_prefix) {
  for (auto p : {Payload(Encode(SampleStart())), Payload(Encode(SampleStep()))}) {
    for (std::size_t n = 0; n < p.size(); ++n) {
      std::vector<std::uint8_t> cut(p.begin(), p.begin() + static_cast<long>(n));
      StartMsg s;
      StepMsg st;
      ck_assert(!Decode(cut, s, nullptr));
      ck_assert(!Decode(cut, st, nullptr));
    }
  }
}
END_TEST

START_TEST(decode_rejects_trailing_bytes) {
  auto p = Payload(Encode(SampleStart()));
  p.push_back(0);
  StartMsg s;
  const char* err = nullptr;
  ck_assert(!Decode(p, s, &err));
  ck_assert_str_eq(err, "trailing bytes");
}
END_TEST

START_TEST(decode_rejects_flipped_length_bytes) {
  auto p = Payload(Encode(SampleStep()));
  // Every byte of the body, flipped in each bit, must never decode into
  // something that reads past the buffer; length fields flipped must fail.
  for (std::size_t i = 0; i < p.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto q = p;
      q[i] = static_cast<std::uint8_t>(q[i] ^ (1u << bit));
      StepMsg st;
      (void)Decode(q, st, nullptr);  // must not crash (ASan build checks reads)
    }
  }
  // The first parameter's u16 length sits after header(2)+count(1)+style,flags,msg(4)+nparams(1).
  std::size_t len_at = 2 + 1 + 4 + 1;
  for (int bit = 0; bit < 16; ++bit) {
    auto q = p;
    std::size_t byte = len_at + (bit < 8 ? 0 : 1);
    q[byte] = static_cast<std::uint8_t>(q[byte] ^ (1u << (bit % 8)));
    StepMsg st;
    ck_assert_msg(!Decode(q, st, nullptr), "flipped length bit %d decoded", bit);
  }
}
END_TEST

START_TEST(decode_rejects_wrong_version_and_type) {
  auto p = Payload(Encode(SampleStart()));
  auto v = p;
  v[0] = 2;
  StartMsg s;
  const char* err = nullptr;
  ck_assert(!Decode(v, s, &err));
  ck_assert_str_eq(err, "unsupported protocol version");
  StepMsg st;
  ck_assert(!Decode(p, st, &err));  // a start is not a step
  ck_assert_str_eq(err, "unexpected message type");
}
END_TEST

START_TEST(decode_rejects_unknown_flags_and_enums) {
  auto p = Payload(Encode(SampleStart()));
  auto q = p;
  q[3] = 0x80;  // start flags
  StartMsg s;
  ck_assert(!Decode(q, s, nullptr));
  q = p;
  q[2] = 9;  // flow
  ck_assert(!Decode(q, s, nullptr));
  AnswerMsg a;
  a.answer = "x";
  auto ap = Payload(Encode(a));
  ap[2] = 0x10;
  AnswerMsg aout;
  ck_assert(!Decode(ap, aout, nullptr));
}
END_TEST

START_TEST(decode_rejects_nul_and_bad_utf8) {
  const std::string bads[] = {std::string("al\0ce", 5), "\xC0\xAF", "\xED\xA0\x80",
                              "\xF5\x80\x80\x80", "\xE2\x82"};
  for (const auto& bad : bads) {
    StartMsg m = SampleStart();
    m.account = bad;
    auto frame = Encode(m);  // the encoder does not validate UTF-8 ...
    StartMsg out;
    ck_assert(!Decode(Payload(frame), out, nullptr));  // ... the decoder does
  }
}
END_TEST

START_TEST(encode_refuses_oversized_fields) {
  StartMsg m = SampleStart();
  m.account.assign(kMaxAccount + 1, 'a');
  ck_assert(Encode(m).bytes().empty());
  AnswerMsg a;
  a.answer.assign(kMaxAnswer + 1, 'x');
  ck_assert(Encode(a).bytes().empty());
  StepMsg st;
  for (std::size_t i = 0; i < kMaxItems + 1; ++i) st.items.push_back({Style::kInfo, 0, 1, {}});
  ck_assert(Encode(st).bytes().empty());
}
END_TEST

START_TEST(decode_rejects_oversized_field_before_allocating) {
  // A hand-made answer claiming a 60000-byte string in a tiny frame.
  std::vector<std::uint8_t> p = {kProtocolVersion, 4, 0, 0xEA, 0x60, 'x'};
  AnswerMsg a;
  const char* err = nullptr;
  ck_assert(!Decode(p, a, &err));
  ck_assert_str_eq(err, "string longer than its cap");
}
END_TEST

START_TEST(step_prompt_must_be_last) {
  std::vector<std::uint8_t> p = {kProtocolVersion, 3, 2,
                                 3, 0, 0, 21, 0,   // prompt first
                                 1, 0, 0, 20, 0};  // then info
  StepMsg st;
  ck_assert(!Decode(p, st, nullptr));
  std::vector<std::uint8_t> r = {kProtocolVersion, 5, 1, 1, 3, 0, 0, 21, 0};  // prompt in result
  ResultMsg rm;
  ck_assert(!Decode(r, rm, nullptr));
}
END_TEST

START_TEST(frame_io_checks_length_before_allocating) {
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
  ck_assert_int_eq(write(sv[0], huge, 4), 4);
  Buffer b;
  ck_assert(RecvFrame(sv[1], b, NowMs() + 1000) == IoStatus::kTooLarge);
  ck_assert_uint_eq(b.bytes().capacity(), 0);
  // Round trip a real frame, then EOF, then a timeout on silence.
  ck_assert(SendFrame(sv[0], Encode(SampleStart()), NowMs() + 1000) == IoStatus::kOk);
  Buffer ok;
  ck_assert(RecvFrame(sv[1], ok, NowMs() + 1000) == IoStatus::kOk);
  Buffer silent;
  ck_assert(RecvFrame(sv[1], silent, NowMs() + 50) == IoStatus::kTimeout);
  std::uint8_t partial[3] = {0, 0, 0};
  ck_assert_int_eq(write(sv[0], partial, 3), 3);
  close(sv[0]);
  ck_assert(RecvFrame(sv[1], silent, NowMs() + 1000) == IoStatus::kError);  // EOF mid-frame
  close(sv[1]);
}
END_TEST

START_TEST(catalog_renders_parameters_and_unknown_ids) {
  std::string s = Render(static_cast<std::uint16_t>(MsgId::kCodeWrong), {"3"});
  ck_assert_str_eq(s.c_str(), "That code is not correct. Tries left: 3.");
  std::string u = Render(9999, {"from", "newer helper"});
  ck_assert_str_eq(u.c_str(), "from newer helper");
  ck_assert(FormatOf(static_cast<std::uint16_t>(MsgId::kPasswordPrompt)) != nullptr);
}
END_TEST

START_TEST(utf8_validator_table) {
  ck_assert(IsValidUtf8("plain"));
  ck_assert(IsValidUtf8("\xC3\xA9t\xC3\xA9"));
  ck_assert(IsValidUtf8("\xF0\x9F\x98\x80"));
  ck_assert(!IsValidUtf8("\xC0\x80"));          // overlong NUL
  ck_assert(!IsValidUtf8("\xE0\x80\xAF"));      // overlong
  ck_assert(!IsValidUtf8("\xED\xB0\x80"));      // surrogate
  ck_assert(!IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  ck_assert(!IsValidUtf8("\x80"));
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("wire_codec");
  TCase* tc = tcase_create("codec");
  tcase_add_test(tc, start_round_trips);
  tcase_add_test(tc, step_and_result_round_trip);
  tcase_add_test(tc, answer_round_trips);
  tcase_add_test(tc, decode_rejects_every_strict_prefix);
  tcase_add_test(tc, decode_rejects_trailing_bytes);
  tcase_add_test(tc, decode_rejects_flipped_length_bytes);
  tcase_add_test(tc, decode_rejects_wrong_version_and_type);
  tcase_add_test(tc, decode_rejects_unknown_flags_and_enums);
  tcase_add_test(tc, decode_rejects_nul_and_bad_utf8);
  tcase_add_test(tc, encode_refuses_oversized_fields);
  tcase_add_test(tc, decode_rejects_oversized_field_before_allocating);
  tcase_add_test(tc, step_prompt_must_be_last);
  tcase_add_test(tc, frame_io_checks_length_before_allocating);
  tcase_add_test(tc, catalog_renders_parameters_and_unknown_ids);
  tcase_add_test(tc, utf8_validator_table);
  suite_add_tcase(s, tc);
  return s;
}

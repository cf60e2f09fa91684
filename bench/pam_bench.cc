// pam_bench: what pam_sspr.so adds to a login that needs no reset.
//
//   pam_bench USER ITERATIONS
//
// Run under pam_wrapper (LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1
// PAM_WRAPPER_SERVICE_DIR=DIR) with two services in DIR:
//   bench-permit:  auth required pam_permit.so
//   bench-sspr:    auth [success=ok ignore=ignore default=die] /path/pam_sspr.so ...
//                  auth required pam_permit.so
// One transaction = pam_start + pam_authenticate + pam_end; the conversation
// answers the password prompt with a fixed (dummy) password, so pam_sspr only
// prompts and hands the password on as PAM_AUTHTOK (no helper involved).
// Both services run interleaved in this process, alternating which goes
// first. Prints medians, p90s, the ratio of medians and the added cost.
#include <security/pam_appl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Not a secret: nothing behind these services checks it.
constexpr char kTypedPassword[] = "Bench-Typed-Pass-1";

struct ConvState {
  int prompts = 0;
};

int Conversation(int n, const pam_message** msgs, pam_response** resp, void* appdata) {
  if (n <= 0 || msgs == nullptr || resp == nullptr) return PAM_CONV_ERR;
  auto* state = static_cast<ConvState*>(appdata);
  auto* out = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
  if (out == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    const int style = msgs[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      out[i].resp = strdup(kTypedPassword);
      if (out[i].resp == nullptr) {
        for (int j = 0; j < i; ++j) std::free(out[j].resp);
        std::free(out);
        return PAM_BUF_ERR;
      }
      ++state->prompts;
    }
  }
  *resp = out;
  return PAM_SUCCESS;
}

// One transaction; microseconds, or a negative value on failure.
double Transaction(const char* service, const char* user, ConvState& state) {
  pam_conv conv{Conversation, &state};
  pam_handle_t* pamh = nullptr;
  const auto t0 = Clock::now();
  int rc = pam_start(service, user, &conv, &pamh);
  if (rc != PAM_SUCCESS) {
    std::fprintf(stderr, "pam_start(%s): %s\n", service, pam_strerror(pamh, rc));
    return -1;
  }
  rc = pam_authenticate(pamh, 0);
  const int end_rc = pam_end(pamh, rc);
  const auto t1 = Clock::now();
  if (rc != PAM_SUCCESS || end_rc != PAM_SUCCESS) {
    std::fprintf(stderr, "%s: pam_authenticate %d, pam_end %d\n", service, rc, end_rc);
    return -1;
  }
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

struct Stats {
  double median = 0;
  double p90 = 0;
};

Stats Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  std::size_t k = (9 * n + 9) / 10;
  s.p90 = v[std::min(n, std::max<std::size_t>(k, 1)) - 1];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pam_bench USER ITERATIONS (under pam_wrapper)\n");
    return 2;
  }
  const char* user = argv[1];
  const int iterations = std::atoi(argv[2]);
  if (iterations < 1) {
    std::fprintf(stderr, "pam_bench: ITERATIONS must be >= 1\n");
    return 2;
  }
  if (std::getenv("PAM_WRAPPER_SERVICE_DIR") == nullptr) {
    std::fprintf(stderr, "pam_bench: run under pam_wrapper (PAM_WRAPPER_SERVICE_DIR unset)\n");
    return 2;
  }
  static const char* const kServices[2] = {"bench-permit", "bench-sspr"};
  const int warmup = std::max(10, iterations / 20);
  std::vector<double> us[2];
  us[0].reserve(static_cast<std::size_t>(iterations));
  us[1].reserve(static_cast<std::size_t>(iterations));
  ConvState states[2];
  for (int i = -warmup; i < iterations; ++i) {
    for (int half = 0; half < 2; ++half) {
      const int which = (i & 1) ^ half;  // alternate who goes first
      const double t = Transaction(kServices[which], user, states[which]);
      if (t < 0) return 1;
      if (i >= 0) us[which].push_back(t);
    }
  }
  const int total = iterations + warmup;
  // pam_permit never prompts; pam_sspr must have prompted once per transaction.
  if (states[0].prompts != 0 || states[1].prompts != total) {
    std::fprintf(stderr, "pam_bench: unexpected prompts (permit %d, sspr %d of %d)\n",
                 states[0].prompts, states[1].prompts, total);
    return 1;
  }
  const Stats p = Summarise(us[0]), s = Summarise(us[1]);
  std::printf("pam: %d transactions per service (interleaved, +%d warm-up), user %s\n",
              iterations, warmup, user);
  std::printf("pam: permit median %.1f us p90 %.1f us; sspr median %.1f us p90 %.1f us\n",
              p.median, p.p90, s.median, s.p90);
  std::printf("pam: sspr median %.1f us, permit median %.1f us, ratio %.2f, added %.1f us\n",
              s.median, p.median, s.median / p.median, s.median - p.median);
  return 0;
}

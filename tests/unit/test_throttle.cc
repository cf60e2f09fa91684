// The abuse-limit store: windows, blocks, send caps, races, persistence and
// a store that is corrupt, full or badly placed (SECURITY.md rule 11 and the
// "OTP guessing" / "faults" rows of the test matrix).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "sspr/store/throttle.h"
#include "check_main.h"  // last: Check defines a fail() macro

using namespace sspr;
using namespace sspr::store;

namespace {

std::atomic<std::int64_t> g_now{1'700'000'000};
std::int64_t Now() { return g_now.load(); }

// A fresh private directory; the store goes in <tmp>/store (created by Open).
struct TempDir {
  std::string root;
  std::string store;
  TempDir() {
    char tmpl[] = "/tmp/sspr-throttle-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    root = tmpl;
    store = root + "/store";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
};

std::unique_ptr<Throttle> MustOpen(const std::string& dir, ThrottleConfig cfg = {}) {
  auto t = Throttle::Open(dir, cfg, Now);
  if (!t) ck_abort_msg("open failed: %s", t.error().detail.c_str());
  return std::move(t).value();
}

Decision Verify(Throttle& t, const char* account, const char* method = "sms", const char* source = "rhost:10.0.0.1") {
  auto d = t.BeginVerification(account, method, source);
  if (!d) ck_abort_msg("BeginVerification failed: %s", d.error().detail.c_str());
  return std::move(d).value();
}

Decision Send(Throttle& t, const char* account, const char* dest, bool paid) {
  auto d = t.BeginSend(account, dest, paid);
  if (!d) ck_abort_msg("BeginSend failed: %s", d.error().detail.c_str());
  return std::move(d).value();
}

void Overwrite(const std::string& path, off_t from, std::size_t len, unsigned seed) {
  int fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW);
  ck_assert_int_ge(fd, 0);
  std::vector<unsigned char> junk(len);
  std::uint32_t x = seed;
  for (auto& b : junk) {
    x = x * 1103515245u + 12345u;
    b = static_cast<unsigned char>(x >> 16);
  }
  ck_assert_int_eq(pwrite(fd, junk.data(), len, from), static_cast<ssize_t>(len));
  close(fd);
}

}  // namespace

START_TEST(sixth_failure_in_window_is_blocked_and_released_after_block_time) {
  TempDir d;
  g_now = 1'700'000'000;
  auto t = MustOpen(d.store);
  for (int i = 0; i < 5; ++i) {
    ck_assert(Verify(*t, "alice").allowed);
    g_now += 1;
  }
  Decision sixth = Verify(*t, "alice");
  ck_assert(!sixth.allowed);
  ck_assert(sixth.limit == Limit::kAccount);
  ck_assert_int_eq(sixth.retry_after_s, 86400);
  auto st = t->IsBlocked("alice");
  ck_assert(st.ok() && st->blocked && st->failures == 5);
  const std::int64_t blocked_at = g_now;
  g_now = blocked_at + 86399;
  ck_assert(!Verify(*t, "alice").allowed);
  g_now = blocked_at + 86400;
  ck_assert(Verify(*t, "alice").allowed);
  // Another account was never affected.
  ck_assert(Verify(*t, "bob", "sms", "rhost:10.0.0.2").allowed);
}
END_TEST

START_TEST(block_longer_than_window_outlasts_the_window) {
  TempDir d;
  g_now = 1'700'000'000;
  ThrottleConfig cfg;
  cfg.account_window_s = 3600;
  cfg.account_block_s = 86400;
  auto t = MustOpen(d.store, cfg);
  for (int i = 0; i < 5; ++i) ck_assert(Verify(*t, "alice").allowed);
  ck_assert(!Verify(*t, "alice").allowed);
  g_now += 7200;  // failures have left the window; the block has not ended
  ck_assert(!Verify(*t, "alice").allowed);
  g_now += 86400;
  ck_assert(Verify(*t, "alice").allowed);
}
END_TEST

START_TEST(success_does_not_count_and_a_ticket_is_single_use) {
  TempDir d;
  g_now = 1'700'000'000;
  auto t = MustOpen(d.store);
  for (int i = 0; i < 20; ++i) {
    Decision dec = Verify(*t, "alice");
    ck_assert(dec.allowed);
    ck_assert(t->Succeeded(dec.ticket).ok());
  }
  ck_assert_uint_eq(t->IsBlocked("alice")->failures, 0);
  for (int i = 0; i < 4; ++i) ck_assert(Verify(*t, "alice").allowed);
  Decision ok = Verify(*t, "alice");
  ck_assert(t->Succeeded(ok.ticket).ok());
  ck_assert(t->Succeeded(ok.ticket).ok());  // replayed: must not take back a second failure
  ck_assert_uint_eq(t->IsBlocked("alice")->failures, 4);
  ck_assert(Verify(*t, "alice").allowed);   // 5th failure
  ck_assert(!Verify(*t, "alice").allowed);  // 6th blocked
}
END_TEST

START_TEST(source_block_is_independent_of_account) {
  TempDir d;
  g_now = 1'700'000'000;
  auto t = MustOpen(d.store);
  // Spraying 20 accounts from one source, one guess each.
  for (int i = 0; i < 20; ++i) {
    std::string acct = "user" + std::to_string(i);
    ck_assert(Verify(*t, acct.c_str(), "sms", "rhost:198.51.100.7").allowed);
  }
  Decision d21 = Verify(*t, "fresh", "sms", "rhost:198.51.100.7");
  ck_assert(!d21.allowed);
  ck_assert(d21.limit == Limit::kSource);
  ck_assert(!t->IsBlocked("fresh")->blocked);  // the account is not punished
  ck_assert(Verify(*t, "fresh", "sms", "tty:/dev/pts/3").allowed);
  // And an account block holds whatever source the guesser claims.
  for (int i = 0; i < 5; ++i) {
    std::string src = "rhost:203.0.113." + std::to_string(i);
    ck_assert(Verify(*t, "carol", "email", src.c_str()).allowed);
  }
  Decision other = Verify(*t, "carol", "email", "rhost:192.0.2.99");
  ck_assert(!other.allowed && other.limit == Limit::kAccount);
  ck_assert(t->ClearSource("rhost:198.51.100.7").ok());
  ck_assert(Verify(*t, "fresh2", "sms", "rhost:198.51.100.7").allowed);
}
END_TEST

START_TEST(keys_are_length_prefixed_so_fields_cannot_run_together) {
  TempDir d;
  g_now = 1'700'000'000;
  ThrottleConfig cfg;
  cfg.account_failures = 100;
  cfg.method_failures = 2;
  auto t = MustOpen(d.store, cfg);
  ck_assert(Verify(*t, "ab", "c").allowed);
  ck_assert(Verify(*t, "ab", "c").allowed);
  Decision third = Verify(*t, "ab", "c");
  ck_assert(!third.allowed && third.limit == Limit::kMethod);
  ck_assert(Verify(*t, "a", "bc").allowed);  // plain concatenation would collide
  ck_assert(Verify(*t, "ab", "email").allowed);  // another method of the same account
  // Clear() of "a" must not touch "ab" (prefix "a" of "ab").
  ck_assert(t->Clear("a").ok());
  ck_assert(!Verify(*t, "ab", "c").allowed);
  ck_assert(t->Clear("ab").ok());
  ck_assert(Verify(*t, "ab", "c").allowed);
}
END_TEST

START_TEST(overlong_or_empty_fields_are_refused) {
  TempDir d;
  auto t = MustOpen(d.store);
  std::string big(257, 'x');
  auto r = t->BeginVerification(big, "sms", "");
  ck_assert(!r.ok() && r.code() == Errc::kProtocol);
  ck_assert(t->BeginVerification("", "sms", "").code() == Errc::kProtocol);
  ck_assert(t->BeginVerification("alice", "", "").code() == Errc::kProtocol);
  ck_assert(t->BeginVerification("alice", "sms", std::string(401, 's')).code() == Errc::kProtocol);
  ck_assert(t->BeginSend("alice", "", true).code() == Errc::kProtocol);
  ck_assert(t->BeginVerification("alice", "sms", "").ok());  // no source claim: one shared bucket
}
END_TEST

START_TEST(send_caps_per_minute_per_day_and_global_budget) {
  TempDir d;
  g_now = 1'700'000'000;
  ThrottleConfig cfg;
  cfg.paid_sends_max = 3;
  auto t = MustOpen(d.store, cfg);
  ck_assert(Send(*t, "alice", "sms:+15550001", true).allowed);
  Decision again = Send(*t, "alice", "sms:+15550001", true);
  ck_assert(!again.allowed);
  ck_assert_int_eq(again.retry_after_s, 60);
  // Another destination of the same account: the account cap holds.
  Decision other = Send(*t, "alice", "mail:a@example.org", false);
  ck_assert(!other.allowed && other.limit == Limit::kAccountSends);
  // The same destination for another account: the destination cap holds.
  Decision shared = Send(*t, "mallory", "sms:+15550001", true);
  ck_assert(!shared.allowed && shared.limit == Limit::kDestination);
  // Ten a day per destination (and account), one a minute.
  for (int i = 1; i < 10; ++i) {
    g_now += 60;
    ck_assert(Send(*t, "bob", "mail:bob@example.org", false).allowed);
  }
  g_now += 60;
  Decision eleventh = Send(*t, "bob", "mail:bob@example.org", false);
  ck_assert(eleventh.allowed);  // bob's 10th
  g_now += 60;
  eleventh = Send(*t, "bob", "mail:bob@example.org", false);
  ck_assert(!eleventh.allowed && eleventh.limit == Limit::kAccountSends);
  ck_assert_int_gt(eleventh.retry_after_s, 60);
  // Global paid budget: 3 per day whoever asks; email is not paid.
  ck_assert(Send(*t, "u2", "sms:+15550002", true).allowed);
  ck_assert(Send(*t, "u3", "sms:+15550003", true).allowed);
  Decision over = Send(*t, "u4", "sms:+15550004", true);
  ck_assert(!over.allowed && over.limit == Limit::kPaidBudget);
  ck_assert(Send(*t, "u4", "mail:u4@example.org", false).allowed);
  g_now += 86400;
  ck_assert(Send(*t, "u5", "sms:+15550005", true).allowed);
  ck_assert(Send(*t, "bob", "mail:bob@example.org", false).allowed);
}
END_TEST

START_TEST(counters_survive_close_and_reopen) {
  TempDir d;
  g_now = 1'700'000'000;
  {
    auto t = MustOpen(d.store);
    for (int i = 0; i < 3; ++i) ck_assert(Verify(*t, "alice").allowed);
    ck_assert(Send(*t, "alice", "sms:+15550001", true).allowed);
  }
  // The helper dies between BeginVerification and the answer: the failure
  // stays counted (run in a child that exits without Succeeded).
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    auto t = Throttle::Open(d.store, {}, Now);
    if (!t) _exit(2);
    auto dec = (*t)->BeginVerification("alice", "sms", "rhost:10.0.0.1");
    _exit(dec.ok() && dec->allowed ? 0 : 3);
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto t = MustOpen(d.store);
  ck_assert_uint_eq(t->IsBlocked("alice")->failures, 4);
  ck_assert(!Send(*t, "alice", "sms:+15550001", true).allowed);
  ck_assert(Verify(*t, "alice").allowed);
  ck_assert(!Verify(*t, "alice").allowed);
  t.reset();
  t = MustOpen(d.store);
  ck_assert(t->IsBlocked("alice")->blocked);
  ck_assert(!Verify(*t, "alice").allowed);
  ck_assert(t->Clear("alice").ok());
  ck_assert(Verify(*t, "alice").allowed);
}
END_TEST

START_TEST(sixty_four_parallel_guessers_get_at_most_five) {
  TempDir d;
  g_now = 1'700'000'000;
  auto t = MustOpen(d.store);
  std::atomic<int> allowed{0}, refused{0}, errors{0};
  std::latch start(64);
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      std::string src = "rhost:10.9.0." + std::to_string(i);
      start.arrive_and_wait();
      auto dec = t->BeginVerification("victim", "sms", src);
      if (!dec) ++errors;
      else if (dec->allowed) ++allowed;
      else ++refused;
    });
  }
  for (auto& th : threads) th.join();
  ck_assert_int_eq(errors.load(), 0);
  ck_assert_int_eq(allowed.load(), 5);
  ck_assert_int_eq(refused.load(), 59);
  auto st = t->IsBlocked("victim");
  ck_assert(st->blocked && st->failures == 5);
}
END_TEST

START_TEST(corrupt_data_file_is_a_clear_error_not_a_crash) {
  TempDir d;
  g_now = 1'700'000'000;
  {
    auto t = MustOpen(d.store);
    for (int i = 0; i < 50; ++i) {
      std::string a = "user" + std::to_string(i), src = "rhost:10.1.0." + std::to_string(i);
      ck_assert(Verify(*t, a.c_str(), "sms", src.c_str()).allowed);
    }
  }
  const std::string file = d.store + "/throttle.mdb";
  struct stat st {};
  ck_assert_int_eq(stat(file.c_str(), &st), 0);
  const long page = sysconf(_SC_PAGESIZE);
  ck_assert_int_gt(st.st_size, 2 * page);
  // 1. Data pages garbled, meta pages intact: LMDB itself would trust them.
  Overwrite(file, 2 * page, static_cast<std::size_t>(st.st_size - 2 * page), 7);
  auto r1 = Throttle::Open(d.store, {}, Now);
  ck_assert(!r1.ok());
  ck_assert(r1.code() == Errc::kIo);
  ck_assert_msg(r1.error().detail.find(file) != std::string::npos, "%s", r1.error().detail.c_str());
  ck_assert_msg(r1.error().detail.find("corrupt") != std::string::npos, "%s", r1.error().detail.c_str());
  // 2. Everything garbled.
  Overwrite(file, 0, static_cast<std::size_t>(st.st_size), 11);
  auto r2 = Throttle::Open(d.store, {}, Now);
  ck_assert(!r2.ok() && r2.code() == Errc::kIo);
  ck_assert_msg(r2.error().detail.find(file) != std::string::npos, "%s", r2.error().detail.c_str());
  // 3. Truncated mid-page.
  ck_assert_int_eq(truncate(file.c_str(), 100), 0);
  auto r3 = Throttle::Open(d.store, {}, Now);
  ck_assert(!r3.ok() && r3.code() == Errc::kIo);
  ck_assert_msg(r3.error().detail.find(file) != std::string::npos, "%s", r3.error().detail.c_str());
}
END_TEST

// Flipped bytes inside LMDB pages (headers, free list, nodes) used to crash
// a plain LMDB open or a later write; Open rebuilds the file in a child, so
// each case must end in an error or a working store, never a signal.
START_TEST(flipped_bytes_in_the_store_never_crash_open_or_later_calls) {
  TempDir d;
  g_now = 1'700'000'000;
  const std::string file = d.store + "/throttle.mdb";
  const long page = sysconf(_SC_PAGESIZE);
  int crashes = 0;
  for (unsigned iter = 0; iter < 40; ++iter) {
    std::error_code ec;
    std::filesystem::remove_all(d.store, ec);
    {
      auto t = MustOpen(d.store);
      for (int i = 0; i < 80; ++i) {
        std::string a = "user" + std::to_string(i), src = "rhost:" + std::to_string(i);
        (void)t->BeginVerification(a, "sms", src);
      }
    }
    struct stat st {};
    ck_assert_int_eq(stat(file.c_str(), &st), 0);
    std::uint32_t x = iter * 2654435761u + 1;
    for (int k = 0; k < 4; ++k) {
      x = x * 1103515245u + 12345u;
      off_t off = 2 * page + static_cast<off_t>(x % static_cast<std::uint32_t>(st.st_size - 2 * page));
      Overwrite(file, off, 1, x);
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      auto t = Throttle::Open(d.store, {}, Now);
      if (!t) _exit(1);
      for (int i = 0; i < 80; ++i) {
        std::string a = "user" + std::to_string(i);
        if (!(*t)->IsBlocked(a).ok() || !(*t)->BeginVerification(a, "sms", "tty:/dev/pts/1").ok()) _exit(1);
      }
      _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) ++crashes;
  }
  ck_assert_int_eq(crashes, 0);
}
END_TEST

START_TEST(bad_directory_or_file_is_refused) {
  TempDir d;
  // Group-readable directory.
  ck_assert_int_eq(mkdir(d.store.c_str(), 0750), 0);
  ck_assert_int_eq(chmod(d.store.c_str(), 0750), 0);
  auto r = Throttle::Open(d.store, {}, Now);
  ck_assert(!r.ok() && r.code() == Errc::kConfig);
  ck_assert_msg(r.error().detail.find("chmod 700") != std::string::npos, "%s", r.error().detail.c_str());
  ck_assert_int_eq(chmod(d.store.c_str(), 0700), 0);
  // A symlink to a good directory.
  const std::string link = d.root + "/link";
  ck_assert_int_eq(symlink(d.store.c_str(), link.c_str()), 0);
  auto l = Throttle::Open(link, {}, Now);
  ck_assert(!l.ok() && l.code() == Errc::kConfig);
  ck_assert_msg(l.error().detail.find("symlink") != std::string::npos, "%s", l.error().detail.c_str());
  // The data file as a symlink (to a file an attacker wants clobbered).
  const std::string victim = d.root + "/victim";
  ck_assert_int_eq(close(open(victim.c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  ck_assert_int_eq(symlink(victim.c_str(), (d.store + "/throttle.mdb").c_str()), 0);
  auto f = Throttle::Open(d.store, {}, Now);
  ck_assert(!f.ok() && f.code() == Errc::kConfig);
  ck_assert_msg(f.error().detail.find("throttle.mdb") != std::string::npos, "%s", f.error().detail.c_str());
  ck_assert_int_eq(unlink((d.store + "/throttle.mdb").c_str()), 0);
  // The lock file as a FIFO: refused, and Open does not hang on it.
  ck_assert_int_eq(mkfifo((d.store + "/throttle.mdb-lock").c_str(), 0600), 0);
  auto p = Throttle::Open(d.store, {}, Now);
  ck_assert(!p.ok() && p.code() == Errc::kConfig);
  ck_assert_int_eq(unlink((d.store + "/throttle.mdb-lock").c_str()), 0);
  // Owned by someone else (only root can hand a directory away).
  if (geteuid() == 0) {
    ck_assert_int_eq(chown(d.store.c_str(), 4242, 4242), 0);
    auto o = Throttle::Open(d.store, {}, Now);
    ck_assert(!o.ok() && o.code() == Errc::kConfig);
    ck_assert_int_eq(chown(d.store.c_str(), 0, 0), 0);
  }
  // After all that, the good directory opens, and created files are 0600.
  auto good = Throttle::Open(d.store, {}, Now);
  ck_assert_msg(good.ok(), "%s", good.ok() ? "" : good.error().detail.c_str());
  struct stat st {};
  ck_assert_int_eq(stat((d.store + "/throttle.mdb").c_str(), &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq(stat(victim.c_str(), &st), 0);
  ck_assert_int_eq(st.st_size, 0);  // never written through the link
}
END_TEST

START_TEST(full_store_fails_the_write_and_keeps_earlier_data) {
  TempDir d;
  g_now = 1'700'000'000;
  ThrottleConfig cfg;
  cfg.map_size = 64 * 1024;
  auto t = MustOpen(d.store, cfg);
  for (int i = 0; i < 3; ++i) ck_assert(Verify(*t, "early").allowed);
  bool full = false;
  int n = 0;
  for (; n < 100000 && !full; ++n) {
    std::string acct = "spray" + std::to_string(n) + std::string(100, 'x');
    std::string src = "rhost:" + std::to_string(n) + std::string(200, 'y');
    auto dec = t->BeginVerification(acct, "sms", src);
    if (!dec) {
      ck_assert(dec.code() == Errc::kIo);
      ck_assert_msg(dec.error().detail.find("full") != std::string::npos, "%s", dec.error().detail.c_str());
      ck_assert_msg(dec.error().detail.find("throttle.mdb") != std::string::npos, "%s",
                    dec.error().detail.c_str());
      full = true;
    }
  }
  ck_assert_msg(full, "store never filled after %d writes", n);
  // Earlier data is intact, reads still work, a full store refuses (closed).
  auto st = t->IsBlocked("early");
  ck_assert(st.ok());
  ck_assert_uint_eq(st->failures, 3);
  ck_assert(!t->BeginVerification("another-new-account" + std::string(200, 'z'), "sms", std::string(300, 'q')).ok());
  t.reset();
  auto again = MustOpen(d.store, cfg);  // passes the full verification walk
  ck_assert_uint_eq(again->IsBlocked("early")->failures, 3);
  // Time passes: pruning on open frees room and the store works again.
  again.reset();
  g_now += 2 * 86400;
  again = MustOpen(d.store, cfg);
  ck_assert_uint_eq(again->IsBlocked("early")->failures, 0);
  ck_assert(Verify(*again, "later").allowed);
}
END_TEST

START_TEST(bad_config_is_refused) {
  TempDir d;
  ThrottleConfig cfg;
  cfg.account_failures = 0;
  ck_assert(Throttle::Open(d.store, cfg, Now).code() == Errc::kConfig);
  cfg = {};
  cfg.account_block_s = 0;
  ck_assert(Throttle::Open(d.store, cfg, Now).code() == Errc::kConfig);
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("throttle");
  TCase* tc = tcase_create("throttle");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, sixth_failure_in_window_is_blocked_and_released_after_block_time);
  tcase_add_test(tc, block_longer_than_window_outlasts_the_window);
  tcase_add_test(tc, success_does_not_count_and_a_ticket_is_single_use);
  tcase_add_test(tc, source_block_is_independent_of_account);
  tcase_add_test(tc, keys_are_length_prefixed_so_fields_cannot_run_together);
  tcase_add_test(tc, overlong_or_empty_fields_are_refused);
  tcase_add_test(tc, send_caps_per_minute_per_day_and_global_budget);
  tcase_add_test(tc, counters_survive_close_and_reopen);
  tcase_add_test(tc, sixty_four_parallel_guessers_get_at_most_five);
  tcase_add_test(tc, corrupt_data_file_is_a_clear_error_not_a_crash);
  tcase_add_test(tc, flipped_bytes_in_the_store_never_crash_open_or_later_calls);
  tcase_add_test(tc, bad_directory_or_file_is_refused);
  tcase_add_test(tc, full_store_fails_the_write_and_keeps_earlier_data);
  tcase_add_test(tc, bad_config_is_refused);
  suite_add_tcase(s, tc);
  return s;
}

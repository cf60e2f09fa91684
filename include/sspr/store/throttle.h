// Abuse limits for verification and sending (SECURITY.md rules 7, 11, 12).
//
// A persistent store (LMDB, one file pair in a private directory) of
// failure and send events, counted in sliding windows:
//   * failed verifications per account, per (account, method) and per
//     source (a client claim such as "rhost:10.1.2.3" or "tty:/dev/pts/3");
//     reaching a limit and trying again imposes a block for a set time
//     (Entra-like default: 5 failures in 24 h block SSPR for 24 h);
//   * sends per account and per destination (default 1 per 60 s, 10 per
//     24 h) and a global budget for paid channels (SMS/voice, default 200
//     per 24 h) against toll fraud / SMS pumping.
//
// A verification failure is recorded *before* the answer is checked, in the
// same write transaction that checks the limits, so parallel guessers (in
// this process or another) can never exceed a limit; Succeeded() takes the
// pre-recorded failure back. If the process dies in between, the failure
// stays counted (fail closed). Any store error is returned as an Error whose
// detail names the file: callers must treat it as "refused".
//
// Thread-safe: one Throttle may be shared by all threads of the helper
// (MDB_NOTLS; LMDB serialises writers, across processes too). Open each store
// directory at most once per process (an LMDB rule). Holds no secrets; the
// store holds account names, destinations and source claims in clear, so the
// directory is private to the helper's uid.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sspr/util/result.h"

struct MDB_env;  // lmdb.h stays out of this header

namespace sspr::store {

struct ThrottleConfig {
  // Failed verifications per account (Entra: 5 in 24 h block for 24 h).
  std::uint32_t account_failures = 5;
  std::int64_t account_window_s = 86400;
  std::int64_t account_block_s = 86400;
  // Per (account, method); same window and block time as the account.
  std::uint32_t method_failures = 5;
  // Per source claim (rhost / tty).
  std::uint32_t source_failures = 20;
  std::int64_t source_window_s = 86400;
  std::int64_t source_block_s = 86400;
  // Sends, each cap applied per account and per destination.
  std::uint32_t sends_short_max = 1;
  std::int64_t sends_short_window_s = 60;
  std::uint32_t sends_long_max = 10;
  std::int64_t sends_long_window_s = 86400;
  // Global budget for paid channels (SMS, voice).
  std::uint32_t paid_sends_max = 200;
  std::int64_t paid_window_s = 86400;
  // LMDB map size: the most the data file may grow to. A full store makes
  // every call fail (closed) until pruning frees room or this is raised.
  std::size_t map_size = std::size_t{128} << 20;
  // The first opener reads every record in a child process and rebuilds the
  // file from them, so a corrupt file is an error instead of a crash (and no
  // damaged page or free list survives). Off only for tests and tools.
  bool verify_on_open = true;
  int verify_timeout_ms = 10000;
};

// Which limit refused a request.
enum class Limit : std::uint8_t {
  kNone,           // allowed
  kAccount,        // account blocked after too many failed verifications
  kMethod,         // this (account, method) blocked
  kSource,         // this rhost/tty claim blocked
  kAccountSends,   // send cap for the account
  kDestination,    // send cap for the destination
  kPaidBudget,     // global SMS/voice budget spent
};
std::string_view LimitName(Limit limit) noexcept;

// Names one pre-recorded failure; only meaningful to the Throttle that
// issued it. Single use: a second Succeeded() with it changes nothing.
struct Ticket {
  std::uint64_t id = 0;  // 0: no failure recorded
  std::string account;
  std::string method;
  std::string source;
};

struct Decision {
  bool allowed = false;
  Limit limit = Limit::kNone;     // the (first) limit that refused
  std::int64_t retry_after_s = 0; // when it may be tried again (0 if allowed)
  Ticket ticket;                  // BeginVerification, when allowed
};

struct AccountState {
  bool blocked = false;          // the next verification would be refused
  std::int64_t blocked_until = 0;// end of an imposed block (0: none imposed)
  std::uint32_t failures = 0;    // failures within the window
};

class Throttle {
 public:
  // Opens (creating if needed) the store in `dir`: the directory is created
  // 0700 if missing (its parent must exist), and refused if it is a symlink,
  // not a directory, not owned by the effective uid, or open to group/other.
  // Files `throttle.mdb` and `throttle.mdb-lock` are created 0600 and refused
  // if they are symlinks, not regular, hard-linked or not private. The first
  // opener (flock on the directory) rebuilds the file from its checked,
  // pruned records in a child process (see verify_on_open). A corrupt or
  // unreadable store is an error naming the file (kIo); bad permissions and
  // bad config are kConfig. Forks once: call it before starting threads. `now_s` gives wall-clock seconds (persisted
  // windows outlive reboots); empty means time().
  static Result<std::unique_ptr<Throttle>> Open(const std::string& dir, ThrottleConfig cfg,
                                                std::function<std::int64_t()> now_s = {});
  ~Throttle();
  Throttle(const Throttle&) = delete;
  Throttle& operator=(const Throttle&) = delete;

  // One write transaction: refuse if the account, (account, method) or
  // source is blocked or at its limit (imposing the block), else record a
  // failure for all three and return allowed + a ticket. Fields: account
  // 1..256 bytes, method 1..64, source 0..400 (longer/empty: kProtocol).
  Result<Decision> BeginVerification(std::string_view account, std::string_view method,
                                     std::string_view source);
  // The answer was right: take back the failure `ticket` recorded. Does not
  // lift a block imposed meanwhile. A used, cleared or pruned ticket is a
  // no-op.
  Status Succeeded(const Ticket& ticket);

  // One write transaction: refuse if the account or destination send caps,
  // or (paid_channel) the global budget, are reached; else record the send
  // against each. account 1..256 bytes, destination 1..400.
  Result<Decision> BeginSend(std::string_view account, std::string_view destination,
                             bool paid_channel);

  // For the admin CLI: the account's verification state (account limit).
  Result<AccountState> IsBlocked(std::string_view account);
  // For admins: forget the account's failures and blocks, for the account
  // and each of its methods. Send counters are kept (toll-fraud budget).
  Status Clear(std::string_view account);
  Status ClearSource(std::string_view source);
  // Drop events outside their windows and expired blocks from every record.
  // Runs on Open and every few hundred writes; records touched by a call are
  // pruned by that call.
  Status Prune();

  const std::string& file() const noexcept { return m_file; }

 private:
  Throttle(MDB_env* env, unsigned int dbi, int dir_fd, std::string file, ThrottleConfig cfg,
           std::function<std::int64_t()> now_s);
  void MaybeSweep();

  MDB_env* m_env;
  unsigned int m_dbi;
  int m_dir_fd;  // holds a shared flock while open
  std::string m_file;  // the data file, for error text
  ThrottleConfig m_cfg;
  std::function<std::int64_t()> m_now;
  std::atomic<std::uint64_t> m_writes{0};
};

}  // namespace sspr::store

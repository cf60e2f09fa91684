#include "sspr/store/throttle.h"

#include "store_internal.h"

#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <utility>
#include <vector>

namespace sspr::store {
namespace {

constexpr const char* kDataName = "throttle.mdb";
constexpr const char* kLockName = "throttle.mdb-lock";
constexpr const char* kNewName = "throttle.mdb.new";  // rebuilt on open, then renamed
// Meta record: magic, then the next ticket id.
constexpr char kMagic[8] = {'S', 'S', 'P', 'R', 'T', 'H', 'R', '1'};
constexpr std::uint8_t kRecordVersion = 1;
constexpr std::size_t kMaxEvents = 65536;  // far above any sane limit
constexpr std::uint64_t kSweepEvery = 512;

constexpr std::size_t kMaxAccount = 256;
constexpr std::size_t kMaxMethod = 64;
constexpr std::size_t kMaxSource = 400;  // keys stay under LMDB's 511 bytes
constexpr std::size_t kMaxDestination = 400;

// Record kinds: the first key byte.
enum class Kind : std::uint8_t {
  kMeta = 0,
  kAccountFail = 1,   // (account)
  kMethodFail = 2,    // (account, method)
  kSourceFail = 3,    // (source)
  kAccountSend = 4,   // (account)
  kDestSend = 5,      // (destination)
  kPaidSend = 6,      // ()
};

// Keys: kind byte, then each field as u16 big-endian length + bytes
// (SECURITY.md rule 12: ("ab","c") and ("a","bc") never meet).
std::string Key(Kind kind, std::initializer_list<std::string_view> fields) {
  std::string k(1, static_cast<char>(kind));
  for (std::string_view f : fields) {
    k.push_back(static_cast<char>((f.size() >> 8) & 0xff));
    k.push_back(static_cast<char>(f.size() & 0xff));
    k.append(f);
  }
  return k;
}

// Checks a stored key: known kind, the right number of fields, each within
// its cap, consumed exactly.
bool ValidKey(const unsigned char* p, std::size_t n) {
  if (n == 0) return false;
  std::size_t want = 0;
  switch (static_cast<Kind>(p[0])) {
    case Kind::kMeta: return n == 1;
    case Kind::kPaidSend: return n == 1;
    case Kind::kAccountFail:
    case Kind::kSourceFail:
    case Kind::kAccountSend:
    case Kind::kDestSend: want = 1; break;
    case Kind::kMethodFail: want = 2; break;
  }
  if (want == 0) return false;  // unknown kind byte
  std::size_t off = 1;
  for (std::size_t i = 0; i < want; ++i) {
    if (n - off < 2) return false;
    std::size_t len = (std::size_t{p[off]} << 8) | p[off + 1];
    off += 2;
    if (len > kMaxSource || n - off < len) return false;
    off += len;
  }
  return off == n;
}

struct Event {
  std::int64_t t = 0;
  std::uint64_t id = 0;  // ticket id; 0 for sends
};

struct Record {
  std::int64_t blocked_until = 0;
  std::vector<Event> events;
  bool Empty() const { return blocked_until == 0 && events.empty(); }
};

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t GetU64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Value: version byte, 7 zero bytes, blocked_until (i64 LE), then events
// as (time i64 LE, id u64 LE). Anything else is corruption.
std::string EncodeRecord(const Record& r) {
  std::string out;
  out.reserve(16 + 16 * r.events.size());
  out.push_back(static_cast<char>(kRecordVersion));
  out.append(7, '\0');
  PutU64(out, static_cast<std::uint64_t>(r.blocked_until));
  for (const Event& e : r.events) {
    PutU64(out, static_cast<std::uint64_t>(e.t));
    PutU64(out, e.id);
  }
  return out;
}

std::optional<Record> DecodeRecord(const unsigned char* p, std::size_t n) {
  if (n < 16 || (n - 16) % 16 != 0 || (n - 16) / 16 > kMaxEvents) return std::nullopt;
  if (p[0] != kRecordVersion) return std::nullopt;
  for (int i = 1; i < 8; ++i)
    if (p[i] != 0) return std::nullopt;
  Record r;
  r.blocked_until = static_cast<std::int64_t>(GetU64(p + 8));
  if (r.blocked_until < 0) return std::nullopt;
  r.events.resize((n - 16) / 16);
  for (std::size_t i = 0; i < r.events.size(); ++i) {
    r.events[i].t = static_cast<std::int64_t>(GetU64(p + 16 + 16 * i));
    r.events[i].id = GetU64(p + 24 + 16 * i);
  }
  return r;
}

bool ValidMeta(const unsigned char* p, std::size_t n) {
  return n == 16 && std::memcmp(p, kMagic, sizeof kMagic) == 0;
}

// Events older than the window leave it; a block ends at its time. Events
// stamped in the future (clock stepped back) still count: fail closed.
bool PruneRecord(Record& r, std::int64_t now, std::int64_t window) {
  std::size_t before = r.events.size();
  std::erase_if(r.events, [&](const Event& e) { return e.t <= now - window; });
  bool changed = r.events.size() != before;
  if (r.blocked_until != 0 && r.blocked_until <= now) {
    r.blocked_until = 0;
    changed = true;
  }
  return changed;
}

std::uint32_t CountSince(const Record& r, std::int64_t now, std::int64_t window) {
  std::uint32_t n = 0;
  for (const Event& e : r.events)
    if (e.t > now - window) ++n;
  return n;
}

// Seconds until fewer than `max` events remain in the window.
std::int64_t RetryAfter(const Record& r, std::int64_t now, std::int64_t window, std::uint32_t max) {
  std::vector<std::int64_t> ts;
  for (const Event& e : r.events)
    if (e.t > now - window) ts.push_back(e.t);
  if (ts.size() < max) return 0;
  std::sort(ts.begin(), ts.end());
  std::int64_t t = ts[ts.size() - max];
  return std::max<std::int64_t>(1, t + window - now);
}

MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

using internal::Txn;

struct Cursor {
  MDB_cursor* c = nullptr;
  Cursor() = default;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (c != nullptr) mdb_cursor_close(c);
  }
};

using internal::Errno;

// --- Rebuild on open, in a child so a corrupt page cannot crash the helper.
//
// LMDB trusts its pages: a garbled page header or free-list entry can make
// any later read or write fault. So the first opener reads every record in a
// child process, checks each one, and writes them into a brand-new file that
// LMDB builds from scratch (no old page or free list survives); the parent
// renames it over the old file. A crash, an LMDB error or a bad record in the
// child is reported as a corrupt store.

struct WalkResult {
  std::int32_t stage = 0;  // 0 ok, 1 open, 2 read, 3 bad record, 4 no meta, 5 write
  std::int32_t rc = 0;
};

std::int64_t WindowFor(Kind kind, const ThrottleConfig& c) {
  switch (kind) {
    case Kind::kMeta: return 0;
    case Kind::kAccountFail:
    case Kind::kMethodFail: return c.account_window_s;
    case Kind::kSourceFail: return c.source_window_s;
    case Kind::kAccountSend:
    case Kind::kDestSend: return std::max(c.sends_short_window_s, c.sends_long_window_s);
    case Kind::kPaidSend: return c.paid_window_s;
  }
  return 0;
}

WalkResult Rebuild(const char* src, const char* dst, const ThrottleConfig& cfg, std::int64_t now) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return {1, rc};
  mdb_env_set_mapsize(env, cfg.map_size);
  // No other user: the caller holds the directory's exclusive lock.
  rc = mdb_env_open(env, src, MDB_NOSUBDIR | MDB_NOTLS | MDB_RDONLY | MDB_NOLOCK, 0600);
  if (rc != 0) return {1, rc};  // the child exits: no cleanup needed
  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) != 0) return {2, rc};
  MDB_dbi dbi = 0;
  if ((rc = mdb_dbi_open(txn, nullptr, 0, &dbi)) != 0) return {2, rc};
  MDB_cursor* cur = nullptr;
  if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) return {2, rc};
  MDB_val k{}, v{};
  bool meta = false;
  std::size_t entries = 0;
  std::vector<std::pair<std::string, std::string>> keep;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const auto* kp = static_cast<const unsigned char*>(k.mv_data);
    const auto* vp = static_cast<const unsigned char*>(v.mv_data);
    if (!ValidKey(kp, k.mv_size)) return {3, 0};
    ++entries;
    std::string key(static_cast<const char*>(k.mv_data), k.mv_size);
    if (kp[0] == static_cast<unsigned char>(Kind::kMeta)) {
      if (!ValidMeta(vp, v.mv_size)) return {3, 0};
      meta = true;
      keep.emplace_back(std::move(key), std::string(static_cast<const char*>(v.mv_data), v.mv_size));
      continue;
    }
    auto r = DecodeRecord(vp, v.mv_size);
    if (!r) return {3, 0};
    PruneRecord(*r, now, WindowFor(static_cast<Kind>(kp[0]), cfg));
    if (!r->Empty()) keep.emplace_back(std::move(key), EncodeRecord(*r));
  }
  if (rc != MDB_NOTFOUND) return {2, rc};
  if (entries > 0 && !meta) return {4, 0};

  MDB_env* out = nullptr;
  if ((rc = mdb_env_create(&out)) != 0) return {5, rc};
  mdb_env_set_mapsize(out, cfg.map_size);
  if ((rc = mdb_env_open(out, dst, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOLOCK, 0600)) != 0) return {5, rc};
  MDB_txn* wtxn = nullptr;
  if ((rc = mdb_txn_begin(out, nullptr, 0, &wtxn)) != 0) return {5, rc};
  MDB_dbi odbi = 0;
  if ((rc = mdb_dbi_open(wtxn, nullptr, 0, &odbi)) != 0) return {5, rc};
  for (const auto& [key, val] : keep) {  // already in key order
    MDB_val pk = Val(key), pv = Val(val);
    if ((rc = mdb_put(wtxn, odbi, &pk, &pv, MDB_APPEND)) != 0) return {5, rc};
  }
  if ((rc = mdb_txn_commit(wtxn)) != 0) return {5, rc};
  if ((rc = mdb_env_sync(out, 1)) != 0) return {5, rc};
  mdb_env_close(out);
  return {0, 0};
}

Status RebuildInChild(const std::string& src, const std::string& dst, const std::string& shown,
                      const ThrottleConfig& cfg, std::int64_t now) {
  WalkResult r{};
  const internal::ChildOutcome c =
      internal::RunInChild(&r, sizeof r, cfg.verify_timeout_ms, [&](void* out) {
        *static_cast<WalkResult*>(out) = Rebuild(src.c_str(), dst.c_str(), cfg, now);
      });
  if (c.spawn_errno != 0)
    return Fail(Errc::kIo, Errno(shown, (std::string("verify: ") + c.spawn_what).c_str(), c.spawn_errno));
  if (c.timed_out) return Fail(Errc::kIo, shown + ": store check timed out; the store is corrupt or stuck");
  if (!c.complete) {
    const std::string how = c.signal != 0 ? " (signal " + std::to_string(c.signal) + ")" : "";
    return Fail(Errc::kIo, shown + ": store is corrupt: reading it crashed the check" + how +
                               "; move the file aside (counters restart) or restore it");
  }
  switch (r.stage) {
    case 0: return {};
    case 1:
      return Fail(Errc::kIo, shown + ": cannot open the store: " + mdb_strerror(r.rc) +
                                 "; move the file aside (counters restart) or restore it");
    case 2:
      return Fail(Errc::kIo, shown + ": store is corrupt: " + mdb_strerror(r.rc));
    case 3:
      return Fail(Errc::kIo, shown + ": store is corrupt: a record has a bad format");
    case 4:
      return Fail(Errc::kIo, shown + ": store is corrupt: format record missing");
    case 5:
      return Fail(Errc::kIo, shown + ".new: cannot write the rebuilt store: " + mdb_strerror(r.rc) +
                                 (r.rc == MDB_MAP_FULL ? " (raise the throttle map size)" : ""));
    default:
      return Fail(Errc::kIo, shown + ": store check failed");
  }
}

// Creates/opens one of our files under `dfd` without following symlinks or
// blocking on a FIFO; checks it is a private regular file we own.
Status CheckFile(int dfd, const char* name, const std::string& shown, bool* empty) {
  int fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == ELOOP) return Fail(Errc::kConfig, shown + ": is a symlink; refused");
    return Fail(Errc::kIo, Errno(shown, "cannot open", errno));
  }
  struct stat st {};
  int rc = fstat(fd, &st);
  int e = errno;
  close(fd);
  if (rc != 0) return Fail(Errc::kIo, Errno(shown, "fstat", e));
  if (!S_ISREG(st.st_mode)) return Fail(Errc::kConfig, shown + ": not a regular file; refused");
  if (st.st_uid != geteuid())
    return Fail(Errc::kConfig, shown + ": owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                                   std::to_string(geteuid()) + "; fix with chown");
  if ((st.st_mode & 077) != 0)
    return Fail(Errc::kConfig, shown + ": open to group/others; fix with chmod 600 " + shown);
  if (st.st_nlink != 1) return Fail(Errc::kConfig, shown + ": has other hard links; refused");
  if (empty != nullptr) *empty = st.st_size == 0;
  return {};
}

Status ValidateConfig(const ThrottleConfig& c) {
  auto bad = [](const char* what) { return Fail(Errc::kConfig, std::string("throttle: ") + what); };
  if (c.account_failures == 0 || c.method_failures == 0 || c.source_failures == 0)
    return bad("failure limits must be at least 1");
  if (c.sends_short_max == 0 || c.sends_long_max == 0 || c.paid_sends_max == 0)
    return bad("send limits must be at least 1");
  for (std::int64_t s : {c.account_window_s, c.account_block_s, c.source_window_s, c.source_block_s,
                         c.sends_short_window_s, c.sends_long_window_s, c.paid_window_s})
    if (s <= 0 || s > 366LL * 86400) return bad("windows and block times must be 1 s .. 366 days");
  if (c.map_size < 65536) return bad("map size must be at least 64 KiB");
  if (c.verify_timeout_ms <= 0) return bad("verify timeout must be positive");
  return {};
}

Status CheckField(std::string_view what, std::string_view v, std::size_t max, bool may_be_empty) {
  if (v.size() > max || (!may_be_empty && v.empty()))
    return Fail(Errc::kProtocol, "throttle: " + std::string(what) + " must be " + (may_be_empty ? "0" : "1") +
                                     ".." + std::to_string(max) + " bytes, got " + std::to_string(v.size()));
  return {};
}

}  // namespace

std::string_view LimitName(Limit limit) noexcept {
  switch (limit) {
    case Limit::kNone: return "none";
    case Limit::kAccount: return "account";
    case Limit::kMethod: return "method";
    case Limit::kSource: return "source";
    case Limit::kAccountSends: return "account_sends";
    case Limit::kDestination: return "destination";
    case Limit::kPaidBudget: return "paid_budget";
  }
  return "unknown";
}

// Everything that touches the store inside one transaction.
class TxnOps {
 public:
  TxnOps(MDB_txn* txn, MDB_dbi dbi, const std::string& file) : m_txn(txn), m_dbi(dbi), m_file(file) {}

  Result<Record> Load(const std::string& key) {
    MDB_val k = Val(key), v{};
    int rc = mdb_get(m_txn, m_dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return Record{};
    if (rc != 0) return Err(rc, "read");
    auto r = DecodeRecord(static_cast<const unsigned char*>(v.mv_data), v.mv_size);
    if (!r) return Fail(Errc::kIo, m_file + ": store is corrupt: a record has a bad format");
    return std::move(*r);
  }

  Status Save(const std::string& key, const Record& r) {
    MDB_val k = Val(key);
    int rc;
    if (r.Empty()) {
      rc = mdb_del(m_txn, m_dbi, &k, nullptr);
      if (rc == MDB_NOTFOUND) rc = 0;
    } else {
      std::string enc = EncodeRecord(r);
      MDB_val v = Val(enc);
      rc = mdb_put(m_txn, m_dbi, &k, &v, 0);
    }
    if (rc != 0) return Err(rc, "write");
    return {};
  }

  Result<std::uint64_t> NextId() {
    std::string key(1, static_cast<char>(Kind::kMeta));
    MDB_val k = Val(key), v{};
    int rc = mdb_get(m_txn, m_dbi, &k, &v);
    if (rc != 0) return rc == MDB_NOTFOUND ? Fail(Errc::kIo, m_file + ": store is corrupt: format record missing")
                                           : Err(rc, "read");
    const auto* p = static_cast<const unsigned char*>(v.mv_data);
    if (!ValidMeta(p, v.mv_size)) return Fail(Errc::kIo, m_file + ": store is corrupt: bad format record");
    std::uint64_t id = GetU64(p + 8);
    std::string meta(kMagic, sizeof kMagic);
    PutU64(meta, id + 1);
    MDB_val nv = Val(meta);
    if ((rc = mdb_put(m_txn, m_dbi, &k, &nv, 0)) != 0) return Err(rc, "write");
    return id;
  }

  Unexpected Err(int rc, const char* what) const {
    std::string d = m_file + ": " + what + ": " + mdb_strerror(rc);
    if (rc == MDB_MAP_FULL) d += " (store full: prune old entries or raise the throttle map size)";
    return Fail(Errc::kIo, std::move(d));
  }

 private:
  MDB_txn* m_txn;
  MDB_dbi m_dbi;
  const std::string& m_file;
};

Throttle::Throttle(MDB_env* env, unsigned int dbi, int dir_fd, std::string file, ThrottleConfig cfg,
                   std::function<std::int64_t()> now_s)
    : m_env(env), m_dbi(dbi), m_dir_fd(dir_fd), m_file(std::move(file)), m_cfg(cfg), m_now(std::move(now_s)) {}

Throttle::~Throttle() {
  mdb_env_close(m_env);
  close(m_dir_fd);  // drops the shared lock last
}

Result<std::unique_ptr<Throttle>> Throttle::Open(const std::string& dir, ThrottleConfig cfg,
                                                 std::function<std::int64_t()> now_s) {
  if (Status s = ValidateConfig(cfg); !s) return Fail(std::move(s).error());
  if (!now_s) now_s = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
  const uid_t euid = geteuid();

  // The directory: ours, private, not a symlink (SECURITY.md rule 12).
  struct stat lst {};
  if (lstat(dir.c_str(), &lst) != 0) {
    if (errno != ENOENT) return Fail(Errc::kIo, Errno(dir, "cannot stat", errno));
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return Fail(Errc::kIo, Errno(dir, "cannot create", errno));
    if (lstat(dir.c_str(), &lst) != 0) return Fail(Errc::kIo, Errno(dir, "cannot stat", errno));
  }
  if (S_ISLNK(lst.st_mode)) return Fail(Errc::kConfig, dir + ": is a symlink; refused");
  if (!S_ISDIR(lst.st_mode)) return Fail(Errc::kConfig, dir + ": not a directory");
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return Fail(errno == ELOOP ? Errc::kConfig : Errc::kIo, Errno(dir, "cannot open", errno));
  struct DirFd {
    int fd;
    ~DirFd() {
      if (fd >= 0) close(fd);
    }
  } dguard{dfd};
  struct stat st {};
  if (fstat(dfd, &st) != 0) return Fail(Errc::kIo, Errno(dir, "fstat", errno));
  if (st.st_dev != lst.st_dev || st.st_ino != lst.st_ino)
    return Fail(Errc::kConfig, dir + ": changed while being opened; refused");
  if (st.st_uid != euid)
    return Fail(Errc::kConfig, dir + ": owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                                   std::to_string(euid) + "; fix with chown");
  if ((st.st_mode & 077) != 0)
    return Fail(Errc::kConfig, dir + ": open to group/others; fix with chmod 700 " + dir);

  // Every opener holds a shared flock on the directory for as long as the
  // store is open; the first one (exclusive lock granted) rebuilds it.
  bool exclusive = false;
  if (flock(dfd, LOCK_EX | LOCK_NB) == 0) {
    exclusive = true;
  } else if (errno == EWOULDBLOCK) {
    int lrc;
    while ((lrc = flock(dfd, LOCK_SH)) != 0 && errno == EINTR) {
    }
    if (lrc != 0) return Fail(Errc::kIo, Errno(dir, "flock", errno));
  } else {
    return Fail(Errc::kIo, Errno(dir, "flock", errno));
  }

  const std::string shown = dir + "/" + kDataName;
  bool fresh = false;
  if (Status s = CheckFile(dfd, kDataName, shown, &fresh); !s) return Fail(std::move(s).error());
  if (Status s = CheckFile(dfd, kLockName, dir + "/" + kLockName, nullptr); !s) return Fail(std::move(s).error());

  // LMDB opens by name and follows symlinks; going through our directory fd
  // pins the directory we checked even if a path component is swapped now.
  std::string via = "/proc/self/fd/" + std::to_string(dfd);
  struct stat pst {};
  std::string lmdb_path = (stat(via.c_str(), &pst) == 0 && pst.st_ino == st.st_ino && pst.st_dev == st.st_dev)
                              ? via + "/" + kDataName
                              : shown;

  if (exclusive && cfg.verify_on_open && !fresh) {
    // Our private directory: nobody else can plant a .new file or link.
    if (unlinkat(dfd, kNewName, 0) != 0 && errno != ENOENT)
      return Fail(Errc::kIo, Errno(shown + ".new", "cannot remove", errno));
    const std::string base = lmdb_path.substr(0, lmdb_path.size() - std::strlen(kDataName));
    Status s = RebuildInChild(lmdb_path, base + kNewName, shown, cfg, now_s());
    if (!s) {
      (void)unlinkat(dfd, kNewName, 0);
      return Fail(std::move(s).error());
    }
    if (renameat(dfd, kNewName, dfd, kDataName) != 0)
      return Fail(Errc::kIo, Errno(shown, "cannot replace with the rebuilt store", errno));
    if (fsync(dfd) != 0) return Fail(Errc::kIo, Errno(dir, "fsync", errno));
  }
  if (exclusive && flock(dfd, LOCK_SH) != 0) return Fail(Errc::kIo, Errno(dir, "flock", errno));

  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
  struct EnvGuard {
    MDB_env* e;
    ~EnvGuard() {
      if (e != nullptr) mdb_env_close(e);
    }
  } eguard{env};
  if ((rc = mdb_env_set_mapsize(env, cfg.map_size)) != 0) return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
  if ((rc = mdb_env_open(env, lmdb_path.c_str(), MDB_NOSUBDIR | MDB_NOTLS, 0600)) != 0)
    return Fail(Errc::kIo, shown + ": cannot open the store: " + mdb_strerror(rc) +
                               "; move the file aside (counters restart) or restore it");
  int dead = 0;
  (void)mdb_reader_check(env, &dead);  // slots left by a crashed process

  MDB_dbi dbi = 0;
  {
    Txn txn;
    if ((rc = mdb_txn_begin(env, nullptr, 0, &txn.t)) != 0)
      return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
    if ((rc = mdb_dbi_open(txn.t, nullptr, 0, &dbi)) != 0) return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
    std::string mkey(1, static_cast<char>(Kind::kMeta));
    MDB_val k = Val(mkey), v{};
    rc = mdb_get(txn.t, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
      MDB_stat ms{};
      if ((rc = mdb_stat(txn.t, dbi, &ms)) != 0) return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
      if (ms.ms_entries != 0) return Fail(Errc::kIo, shown + ": store is corrupt: format record missing");
      std::string meta(kMagic, sizeof kMagic);
      PutU64(meta, 1);
      MDB_val nv = Val(meta);
      if ((rc = mdb_put(txn.t, dbi, &k, &nv, 0)) != 0) return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
    } else if (rc != 0) {
      return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
    } else if (!ValidMeta(static_cast<const unsigned char*>(v.mv_data), v.mv_size)) {
      return Fail(Errc::kIo, shown + ": not a throttle store (bad format record)");
    }
    if ((rc = txn.Commit()) != 0) return Fail(Errc::kIo, shown + ": " + mdb_strerror(rc));
  }
  eguard.e = nullptr;
  std::unique_ptr<Throttle> t(new Throttle(env, dbi, dfd, shown, cfg, std::move(now_s)));
  dguard.fd = -1;
  // A full store must not stop the helper from starting: pruning is what
  // frees room. Other errors surface on the first call anyway.
  (void)t->Prune();
  return t;
}

void Throttle::MaybeSweep() {
  if (m_writes.fetch_add(1, std::memory_order_relaxed) % kSweepEvery == kSweepEvery - 1) (void)Prune();
}

Result<Decision> Throttle::BeginVerification(std::string_view account, std::string_view method,
                                             std::string_view source) {
  if (Status s = CheckField("account", account, kMaxAccount, false); !s) return Fail(std::move(s).error());
  if (Status s = CheckField("method", method, kMaxMethod, false); !s) return Fail(std::move(s).error());
  if (Status s = CheckField("source", source, kMaxSource, true); !s) return Fail(std::move(s).error());
  const std::string akey = Key(Kind::kAccountFail, {account});
  const std::string mkey = Key(Kind::kMethodFail, {account, method});
  const std::string skey = Key(Kind::kSourceFail, {source});

  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  TxnOps ops(txn.t, m_dbi, m_file);
  if (rc != 0) return ops.Err(rc, "begin");
  // The clock is read inside the writer lock so events are ordered.
  const std::int64_t now = m_now();
  Result<Record> ar = ops.Load(akey);
  if (!ar) return Fail(std::move(ar).error());
  Result<Record> mr = ops.Load(mkey);
  if (!mr) return Fail(std::move(mr).error());
  Result<Record> sr = ops.Load(skey);
  if (!sr) return Fail(std::move(sr).error());
  Record& a = *ar;
  Record& m = *mr;
  Record& s = *sr;
  PruneRecord(a, now, m_cfg.account_window_s);
  PruneRecord(m, now, m_cfg.account_window_s);
  PruneRecord(s, now, m_cfg.source_window_s);

  // A counter at its limit turns into a block on the next try; the window's
  // failures stay, so the rate never exceeds the limit per window even when
  // the block is shorter than the window.
  struct Check {
    Record& r;
    std::uint32_t max;
    std::int64_t block_s;
    Limit limit;
  };
  Decision d;
  for (Check c : {Check{a, m_cfg.account_failures, m_cfg.account_block_s, Limit::kAccount},
                  Check{m, m_cfg.method_failures, m_cfg.account_block_s, Limit::kMethod},
                  Check{s, m_cfg.source_failures, m_cfg.source_block_s, Limit::kSource}}) {
    if (c.r.blocked_until == 0 && c.r.events.size() >= c.max) c.r.blocked_until = now + c.block_s;
    if (c.r.blocked_until > now && d.limit == Limit::kNone) {
      d.limit = c.limit;
      d.retry_after_s = c.r.blocked_until - now;
    }
  }
  if (d.limit == Limit::kNone) {
    Result<std::uint64_t> id = ops.NextId();
    if (!id) return Fail(std::move(id).error());
    for (Record* r : {&a, &m, &s}) r->events.push_back(Event{now, *id});
    d.allowed = true;
    d.ticket = Ticket{*id, std::string(account), std::string(method), std::string(source)};
  }
  for (auto [key, rec] : {std::pair{&akey, &a}, std::pair{&mkey, &m}, std::pair{&skey, &s}})
    if (Status st = ops.Save(*key, *rec); !st) return Fail(std::move(st).error());
  if ((rc = txn.Commit()) != 0) return ops.Err(rc, "commit");
  MaybeSweep();
  return d;
}

Status Throttle::Succeeded(const Ticket& ticket) {
  if (ticket.id == 0) return {};
  if (Status s = CheckField("account", ticket.account, kMaxAccount, false); !s) return s;
  if (Status s = CheckField("method", ticket.method, kMaxMethod, false); !s) return s;
  if (Status s = CheckField("source", ticket.source, kMaxSource, true); !s) return s;
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  TxnOps ops(txn.t, m_dbi, m_file);
  if (rc != 0) return ops.Err(rc, "begin");
  for (const std::string& key : {Key(Kind::kAccountFail, {ticket.account}),
                                 Key(Kind::kMethodFail, {ticket.account, ticket.method}),
                                 Key(Kind::kSourceFail, {ticket.source})}) {
    Result<Record> r = ops.Load(key);
    if (!r) return Fail(std::move(r).error());
    if (std::erase_if(r->events, [&](const Event& e) { return e.id == ticket.id; }) == 0) continue;
    if (Status s = ops.Save(key, *r); !s) return s;
  }
  if ((rc = txn.Commit()) != 0) return ops.Err(rc, "commit");
  return {};
}

Result<Decision> Throttle::BeginSend(std::string_view account, std::string_view destination, bool paid_channel) {
  if (Status s = CheckField("account", account, kMaxAccount, false); !s) return Fail(std::move(s).error());
  if (Status s = CheckField("destination", destination, kMaxDestination, false); !s)
    return Fail(std::move(s).error());
  const std::string akey = Key(Kind::kAccountSend, {account});
  const std::string dkey = Key(Kind::kDestSend, {destination});
  const std::string gkey = Key(Kind::kPaidSend, {});
  const std::int64_t keep = std::max(m_cfg.sends_short_window_s, m_cfg.sends_long_window_s);

  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  TxnOps ops(txn.t, m_dbi, m_file);
  if (rc != 0) return ops.Err(rc, "begin");
  const std::int64_t now = m_now();
  Result<Record> ar = ops.Load(akey);
  if (!ar) return Fail(std::move(ar).error());
  Result<Record> dr = ops.Load(dkey);
  if (!dr) return Fail(std::move(dr).error());
  Result<Record> gr = paid_channel ? ops.Load(gkey) : Result<Record>(Record{});
  if (!gr) return Fail(std::move(gr).error());
  PruneRecord(*ar, now, keep);
  PruneRecord(*dr, now, keep);
  if (paid_channel) PruneRecord(*gr, now, m_cfg.paid_window_s);

  struct Cap {
    const Record& r;
    std::uint32_t max;
    std::int64_t window;
    Limit limit;
  };
  std::vector<Cap> caps = {{*ar, m_cfg.sends_short_max, m_cfg.sends_short_window_s, Limit::kAccountSends},
                           {*ar, m_cfg.sends_long_max, m_cfg.sends_long_window_s, Limit::kAccountSends},
                           {*dr, m_cfg.sends_short_max, m_cfg.sends_short_window_s, Limit::kDestination},
                           {*dr, m_cfg.sends_long_max, m_cfg.sends_long_window_s, Limit::kDestination}};
  if (paid_channel) caps.push_back({*gr, m_cfg.paid_sends_max, m_cfg.paid_window_s, Limit::kPaidBudget});
  Decision d;
  for (const Cap& c : caps) {
    if (CountSince(c.r, now, c.window) < c.max) continue;
    std::int64_t retry = RetryAfter(c.r, now, c.window, c.max);
    if (d.limit == Limit::kNone || retry > d.retry_after_s) {
      if (d.limit == Limit::kNone) d.limit = c.limit;
      d.retry_after_s = std::max(d.retry_after_s, retry);
    }
  }
  if (d.limit == Limit::kNone) {
    d.allowed = true;
    ar->events.push_back(Event{now, 0});
    dr->events.push_back(Event{now, 0});
    if (paid_channel) gr->events.push_back(Event{now, 0});
  }
  // Saved even when refused: the records were pruned.
  if (Status s = ops.Save(akey, *ar); !s) return Fail(std::move(s).error());
  if (Status s = ops.Save(dkey, *dr); !s) return Fail(std::move(s).error());
  if (paid_channel)
    if (Status s = ops.Save(gkey, *gr); !s) return Fail(std::move(s).error());
  if ((rc = txn.Commit()) != 0) return ops.Err(rc, "commit");
  MaybeSweep();
  return d;
}

Result<AccountState> Throttle::IsBlocked(std::string_view account) {
  if (Status s = CheckField("account", account, kMaxAccount, false); !s) return Fail(std::move(s).error());
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, MDB_RDONLY, &txn.t);
  TxnOps ops(txn.t, m_dbi, m_file);
  if (rc != 0) return ops.Err(rc, "begin");
  const std::int64_t now = m_now();
  Result<Record> r = ops.Load(Key(Kind::kAccountFail, {account}));
  if (!r) return Fail(std::move(r).error());
  PruneRecord(*r, now, m_cfg.account_window_s);
  AccountState st;
  st.failures = static_cast<std::uint32_t>(r->events.size());
  st.blocked_until = r->blocked_until;
  st.blocked = r->blocked_until > now || st.failures >= m_cfg.account_failures;
  return st;
}

Status Throttle::Clear(std::string_view account) {
  if (Status s = CheckField("account", account, kMaxAccount, false); !s) return s;
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  TxnOps ops(txn.t, m_dbi, m_file);
  if (rc != 0) return ops.Err(rc, "begin");
  if (Status s = ops.Save(Key(Kind::kAccountFail, {account}), Record{}); !s) return s;
  // Every (account, method) record: the length-prefixed account is a prefix
  // that matches this account only.
  const std::string prefix = Key(Kind::kMethodFail, {account});
  {
    Cursor cur;
    if ((rc = mdb_cursor_open(txn.t, m_dbi, &cur.c)) != 0) return ops.Err(rc, "cursor");
    MDB_val k = Val(prefix), v{};
    for (rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT)) {
      std::string_view kv(static_cast<const char*>(k.mv_data), k.mv_size);
      if (!kv.starts_with(prefix)) break;
      if ((rc = mdb_cursor_del(cur.c, 0)) != 0) return ops.Err(rc, "delete");
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return ops.Err(rc, "read");
  }
  if ((rc = txn.Commit()) != 0) return ops.Err(rc, "commit");
  return {};
}

Status Throttle::ClearSource(std::string_view source) {
  if (Status s = CheckField("source", source, kMaxSource, true); !s) return s;
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  TxnOps ops(txn.t, m_dbi, m_file);
  if (rc != 0) return ops.Err(rc, "begin");
  if (Status s = ops.Save(Key(Kind::kSourceFail, {source}), Record{}); !s) return s;
  if ((rc = txn.Commit()) != 0) return ops.Err(rc, "commit");
  return {};
}

Status Throttle::Prune() {
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  TxnOps ops(txn.t, m_dbi, m_file);
  if (rc != 0) return ops.Err(rc, "begin");
  const std::int64_t now = m_now();
  std::vector<std::pair<std::string, Record>> changed;
  {
    Cursor cur;
    if ((rc = mdb_cursor_open(txn.t, m_dbi, &cur.c)) != 0) return ops.Err(rc, "cursor");
    MDB_val k{}, v{};
    for (rc = mdb_cursor_get(cur.c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT)) {
      const auto* kp = static_cast<const unsigned char*>(k.mv_data);
      if (!ValidKey(kp, k.mv_size)) return Fail(Errc::kIo, m_file + ": store is corrupt: bad key");
      std::int64_t window = 0;
      switch (static_cast<Kind>(kp[0])) {
        case Kind::kMeta: continue;
        case Kind::kAccountFail:
        case Kind::kMethodFail: window = m_cfg.account_window_s; break;
        case Kind::kSourceFail: window = m_cfg.source_window_s; break;
        case Kind::kAccountSend:
        case Kind::kDestSend: window = std::max(m_cfg.sends_short_window_s, m_cfg.sends_long_window_s); break;
        case Kind::kPaidSend: window = m_cfg.paid_window_s; break;
      }
      auto r = DecodeRecord(static_cast<const unsigned char*>(v.mv_data), v.mv_size);
      if (!r) return Fail(Errc::kIo, m_file + ": store is corrupt: a record has a bad format");
      if (PruneRecord(*r, now, window))
        changed.emplace_back(std::string(static_cast<const char*>(k.mv_data), k.mv_size), std::move(*r));
    }
    if (rc != MDB_NOTFOUND) return ops.Err(rc, "read");
  }
  for (const auto& [key, rec] : changed)
    if (Status s = ops.Save(key, rec); !s) return s;
  if ((rc = txn.Commit()) != 0) return ops.Err(rc, "commit");
  return {};
}

}  // namespace sspr::store

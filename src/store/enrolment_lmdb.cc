// LmdbEnrolmentStore: enrolment records in one private LMDB file.
//
// Why it looks like this:
//  * LMDB gives atomic, crash-safe updates (copy-on-write B+tree, one
//    writer at a time across processes): a Save either replaces the whole
//    record or leaves the old one, also when the disk or the map is full.
//  * LMDB trusts its file: a damaged page can crash the reader. So an
//    existing file is walked once, in a child process, before we open it;
//    a crash or a bad record there becomes an error naming the file
//    (SECURITY.md test matrix, "corrupt store").
//  * The directory is opened with O_NOFOLLOW and LMDB is pointed at it
//    through /proc/self/fd, so a path component swapped after our checks
//    cannot redirect it (SECURITY.md rule 12).
//  * Keys are the account names, which never contain NUL; the format
//    record's key starts with NUL, so it can never collide with one.
#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "store_internal.h"
#include "sspr/store/enrolment.h"

namespace sspr::store {
namespace {

constexpr const char* kDataName = "enrolment.mdb";
constexpr const char* kLockName = "enrolment.mdb-lock";
constexpr char kMetaKey[] = "\0sspr-enrolment";  // NUL first: never an account
constexpr std::size_t kMetaKeyLen = sizeof kMetaKey - 1;
constexpr char kMetaValue[8] = {'S', 'S', 'P', 'R', 'E', 'N', 'R', '1'};
constexpr int kVerifyTimeoutMs = 10000;

std::string_view MetaKey() { return {kMetaKey, kMetaKeyLen}; }
std::string_view MetaValue() { return {kMetaValue, sizeof kMetaValue}; }

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view View(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

using internal::Txn;

using internal::Errno;

std::string Lmdb(const std::string& file, const char* what, int rc) {
  std::string d = file + ": " + what + ": " + mdb_strerror(rc);
  if (rc == MDB_MAP_FULL) d += " (the store is full: raise its map size)";
  if (rc == ENOSPC) d += " (no space left on the device)";
  return d;
}

// --- The walk, in a child ----------------------------------------------------

enum class Stage : std::int32_t { kOk = 0, kOpen, kRead, kBadRecord, kBadMeta };
struct WalkResult {
  Stage stage = Stage::kOk;
  std::int32_t rc = 0;
};

WalkResult Walk(const char* path, std::size_t map_size) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return {Stage::kOpen, rc};
  (void)mdb_env_set_mapsize(env, map_size);
  if ((rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_RDONLY, 0600)) != 0) return {Stage::kOpen, rc};
  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) != 0) return {Stage::kRead, rc};
  MDB_dbi dbi = 0;
  if ((rc = mdb_dbi_open(txn, nullptr, 0, &dbi)) != 0) return {Stage::kRead, rc};
  MDB_cursor* cur = nullptr;
  if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) return {Stage::kRead, rc};
  MDB_val k{}, v{};
  bool meta = false;
  std::size_t entries = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    ++entries;
    if (View(k) == MetaKey()) {
      if (View(v) != MetaValue()) return {Stage::kBadMeta, 0};
      meta = true;
      continue;
    }
    if (!CheckAccountName(View(k)) || !DecodeEnrolment(View(v))) return {Stage::kBadRecord, 0};
  }
  if (rc != MDB_NOTFOUND) return {Stage::kRead, rc};
  if (entries > 0 && !meta) return {Stage::kBadMeta, 0};
  // Every later write reads the free list (dbi 0): touch all of it here.
  MDB_cursor* fcur = nullptr;
  if ((rc = mdb_cursor_open(txn, 0, &fcur)) != 0) return {Stage::kRead, rc};
  volatile unsigned char sink = 0;
  for (rc = mdb_cursor_get(fcur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(fcur, &k, &v, MDB_NEXT)) {
    const auto* p = static_cast<const unsigned char*>(v.mv_data);
    for (std::size_t i = 0; i < v.mv_size; ++i) sink = static_cast<unsigned char>(sink ^ p[i]);
  }
  if (rc != MDB_NOTFOUND) return {Stage::kRead, rc};
  return {};
}

Status VerifyInChild(const std::string& lmdb_path, const std::string& shown, std::size_t map_size) {
  WalkResult r{};
  const internal::ChildOutcome c = internal::RunInChild(&r, sizeof r, kVerifyTimeoutMs, [&](void* out) {
    *static_cast<WalkResult*>(out) = Walk(lmdb_path.c_str(), map_size);
  });
  if (c.spawn_errno != 0)
    return Fail(Errc::kIo, Errno(shown, (std::string("check: ") + c.spawn_what).c_str(), c.spawn_errno));
  const std::string fix = "; move the file aside and restore it from backup (users re-enrol otherwise)";
  if (c.timed_out) return Fail(Errc::kIo, shown + ": store check timed out; the store is corrupt or stuck" + fix);
  if (!c.complete) {
    const std::string how = c.signal != 0 ? " (signal " + std::to_string(c.signal) + ")" : "";
    return Fail(Errc::kIo, shown + ": store is corrupt: reading it crashed the check" + how + fix);
  }
  switch (r.stage) {
    case Stage::kOk: return {};
    case Stage::kOpen: return Fail(Errc::kIo, shown + ": cannot open the store: " + mdb_strerror(r.rc) + fix);
    case Stage::kRead: return Fail(Errc::kIo, shown + ": store is corrupt: " + mdb_strerror(r.rc) + fix);
    case Stage::kBadRecord: return Fail(Errc::kIo, shown + ": store is corrupt: a record has a bad format" + fix);
    case Stage::kBadMeta: return Fail(Errc::kIo, shown + ": not an enrolment store (format record missing or wrong)" + fix);
  }
  return Fail(Errc::kIo, shown + ": store check failed");
}

// Creates/opens one of our files under `dfd` without following symlinks or
// blocking on a FIFO, and checks it is a private regular file of ours.
Status CheckFile(int dfd, const char* name, const std::string& shown, bool* empty) {
  const int fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == ELOOP) return Fail(Errc::kConfig, shown + ": is a symlink; refused");
    return Fail(Errc::kIo, Errno(shown, "cannot open", errno));
  }
  struct stat st {};
  const int rc = fstat(fd, &st);
  const int e = errno;
  close(fd);
  if (rc != 0) return Fail(Errc::kIo, Errno(shown, "fstat", e));
  if (!S_ISREG(st.st_mode)) return Fail(Errc::kConfig, shown + ": not a regular file; refused");
  if (st.st_uid != geteuid())
    return Fail(Errc::kConfig, shown + ": owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                                   std::to_string(geteuid()) + "; fix with chown");
  if ((st.st_mode & 077) != 0) return Fail(Errc::kConfig, shown + ": open to group/others; fix with chmod 600 " + shown);
  if (st.st_nlink != 1) return Fail(Errc::kConfig, shown + ": has other hard links; refused");
  if (empty != nullptr) *empty = st.st_size == 0;
  return {};
}

}  // namespace

LmdbEnrolmentStore::LmdbEnrolmentStore(MDB_env* env, unsigned int dbi, std::string file)
    : m_env(env), m_dbi(dbi), m_file(std::move(file)) {}

LmdbEnrolmentStore::~LmdbEnrolmentStore() { mdb_env_close(m_env); }

Result<std::unique_ptr<LmdbEnrolmentStore>> LmdbEnrolmentStore::Open(const std::string& dir, std::size_t map_size) {
  if (dir.empty()) return Fail(Errc::kConfig, "enrolment store: no directory given");
  if (map_size < (std::size_t{1} << 16)) return Fail(Errc::kConfig, "enrolment store: map size below 64 KiB");
  const uid_t euid = geteuid();

  // The directory: ours, private, not a symlink (SECURITY.md rule 12).
  struct stat lst {};
  if (lstat(dir.c_str(), &lst) != 0) {
    if (errno != ENOENT) return Fail(Errc::kIo, Errno(dir, "cannot stat", errno));
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Fail(Errc::kIo, Errno(dir, "cannot create", errno));
    if (lstat(dir.c_str(), &lst) != 0) return Fail(Errc::kIo, Errno(dir, "cannot stat", errno));
  }
  if (S_ISLNK(lst.st_mode)) return Fail(Errc::kConfig, dir + ": is a symlink; refused");
  if (!S_ISDIR(lst.st_mode)) return Fail(Errc::kConfig, dir + ": not a directory");
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return Fail(errno == ELOOP ? Errc::kConfig : Errc::kIo, Errno(dir, "cannot open", errno));
  struct DirFd {
    int fd;
    ~DirFd() { close(fd); }
  } dguard{dfd};
  struct stat st {};
  if (fstat(dfd, &st) != 0) return Fail(Errc::kIo, Errno(dir, "fstat", errno));
  if (st.st_dev != lst.st_dev || st.st_ino != lst.st_ino)
    return Fail(Errc::kConfig, dir + ": changed while being opened; refused");
  if (st.st_uid != euid)
    return Fail(Errc::kConfig, dir + ": owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                                   std::to_string(euid) + "; fix with chown");
  if ((st.st_mode & 077) != 0) return Fail(Errc::kConfig, dir + ": open to group/others; fix with chmod 700 " + dir);

  const std::string shown = dir + "/" + kDataName;
  bool fresh = false;
  if (Status s = CheckFile(dfd, kDataName, shown, &fresh); !s) return Fail(std::move(s).error());
  if (Status s = CheckFile(dfd, kLockName, dir + "/" + kLockName, nullptr); !s) return Fail(std::move(s).error());

  // LMDB opens by name and follows symlinks; through our directory fd it
  // reaches the directory we checked.
  const std::string via = "/proc/self/fd/" + std::to_string(dfd);
  struct stat pst {};
  const std::string lmdb_path =
      (stat(via.c_str(), &pst) == 0 && pst.st_ino == st.st_ino && pst.st_dev == st.st_dev) ? via + "/" + kDataName
                                                                                            : shown;
  if (!fresh) {
    if (Status s = VerifyInChild(lmdb_path, shown, map_size); !s) return Fail(std::move(s).error());
  }

  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return Fail(Errc::kIo, Lmdb(shown, "create", rc));
  struct EnvGuard {
    MDB_env* e;
    ~EnvGuard() {
      if (e != nullptr) mdb_env_close(e);
    }
  } eguard{env};
  if ((rc = mdb_env_set_mapsize(env, map_size)) != 0) return Fail(Errc::kIo, Lmdb(shown, "map size", rc));
  if ((rc = mdb_env_open(env, lmdb_path.c_str(), MDB_NOSUBDIR | MDB_NOTLS, 0600)) != 0)
    return Fail(Errc::kIo, Lmdb(shown, "cannot open the store", rc));
  int dead = 0;
  (void)mdb_reader_check(env, &dead);  // reader slots left by a crashed check child

  MDB_dbi dbi = 0;
  {
    Txn txn;
    if ((rc = mdb_txn_begin(env, nullptr, 0, &txn.t)) != 0) return Fail(Errc::kIo, Lmdb(shown, "begin", rc));
    if ((rc = mdb_dbi_open(txn.t, nullptr, 0, &dbi)) != 0) return Fail(Errc::kIo, Lmdb(shown, "open db", rc));
    MDB_val k = Val(MetaKey()), v{};
    rc = mdb_get(txn.t, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
      MDB_stat ms{};
      if ((rc = mdb_stat(txn.t, dbi, &ms)) != 0) return Fail(Errc::kIo, Lmdb(shown, "stat", rc));
      if (ms.ms_entries != 0) return Fail(Errc::kIo, shown + ": not an enrolment store (format record missing)");
      MDB_val nv = Val(MetaValue());
      if ((rc = mdb_put(txn.t, dbi, &k, &nv, 0)) != 0) return Fail(Errc::kIo, Lmdb(shown, "write format record", rc));
    } else if (rc != 0) {
      return Fail(Errc::kIo, Lmdb(shown, "read format record", rc));
    } else if (View(v) != MetaValue()) {
      return Fail(Errc::kIo, shown + ": not an enrolment store (bad format record)");
    }
    if ((rc = txn.Commit()) != 0) return Fail(Errc::kIo, Lmdb(shown, "commit", rc));
  }
  eguard.e = nullptr;
  return std::unique_ptr<LmdbEnrolmentStore>(new LmdbEnrolmentStore(env, dbi, shown));
}

Result<std::optional<Enrolment>> LmdbEnrolmentStore::Load(std::string_view account) {
  if (Status s = CheckAccountName(account); !s) return Fail(std::move(s).error());
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, MDB_RDONLY, &txn.t);
  if (rc != 0) return Fail(Errc::kIo, Lmdb(m_file, "begin read", rc));
  MDB_val k = Val(account), v{};
  rc = mdb_get(txn.t, m_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<Enrolment>();
  if (rc != 0) return Fail(Errc::kIo, Lmdb(m_file, "read", rc));
  auto e = DecodeEnrolment(View(v));  // copies out of the map before the txn ends
  if (!e) return Fail(Errc::kIo, m_file + ": record of " + std::string(account) + " is corrupt: " + e.error().detail);
  return std::optional<Enrolment>(std::move(e.value()));
}

Status LmdbEnrolmentStore::Save(std::string_view account, const Enrolment& e) {
  if (Status s = CheckAccountName(account); !s) return s;
  auto bytes = EncodeEnrolment(e);
  if (!bytes) return Fail(std::move(bytes).error());
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  if (rc != 0) return Fail(Errc::kIo, Lmdb(m_file, "begin write", rc));
  MDB_val k = Val(account), v = Val(*bytes);
  if ((rc = mdb_put(txn.t, m_dbi, &k, &v, 0)) != 0) return Fail(Errc::kIo, Lmdb(m_file, "write", rc));
  if ((rc = txn.Commit()) != 0) return Fail(Errc::kIo, Lmdb(m_file, "commit", rc));
  return {};
}

Status LmdbEnrolmentStore::Remove(std::string_view account) {
  if (Status s = CheckAccountName(account); !s) return s;
  Txn txn;
  int rc = mdb_txn_begin(m_env, nullptr, 0, &txn.t);
  if (rc != 0) return Fail(Errc::kIo, Lmdb(m_file, "begin write", rc));
  MDB_val k = Val(account);
  rc = mdb_del(txn.t, m_dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return {};  // the txn aborts: nothing changed
  if (rc != 0) return Fail(Errc::kIo, Lmdb(m_file, "delete", rc));
  if ((rc = txn.Commit()) != 0) return Fail(Errc::kIo, Lmdb(m_file, "commit", rc));
  return {};
}

}  // namespace sspr::store

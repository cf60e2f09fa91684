// Internal to src/store: pieces the LMDB stores (throttle, enrolment) share.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <functional>
#include <string>

namespace sspr::store::internal {

// A scoped LMDB transaction: aborted on destruction unless committed.
struct Txn {
  MDB_txn* t = nullptr;
  Txn() = default;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() {
    if (t != nullptr) mdb_txn_abort(t);
  }
  int Commit() {
    int rc = mdb_txn_commit(t);
    t = nullptr;
    return rc;
  }
};

// "PATH: what: strerror(err)".
std::string Errno(const std::string& path, const char* what, int err);

// What became of a checker child (RunInChild).
struct ChildOutcome {
  int spawn_errno = 0;      // pipe or fork failed with this (nothing ran)
  const char* spawn_what = "";
  bool timed_out = false;   // no full result in time: the child was killed
  bool complete = false;    // the whole result arrived
  int signal = 0;           // the child died of this signal (0: it did not)
};

// Run `work` in a forked child, which fills its copy of the `len`-byte
// `result` and sends it back through a pipe. A fault in the child ends it
// quietly (exit 128 + signal: no core file, no sanitizer report) — reading a
// damaged store may crash, and that is the finding. The parent waits at most
// `timeout_ms` for the result, kills the child past it, and reaps it. Call
// before threads exist (fork).
ChildOutcome RunInChild(void* result, std::size_t len, int timeout_ms,
                        const std::function<void(void* out)>& work);

}  // namespace sspr::store::internal

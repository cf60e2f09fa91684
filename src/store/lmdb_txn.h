// A scoped LMDB transaction, shared by the stores in src/store: aborted on
// destruction unless committed.
#pragma once

#include <lmdb.h>

namespace sspr::store::internal {

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

}  // namespace sspr::store::internal

// Enrolment records and stores: codec strictness, sealing, the key file,
// answer hashing, and the EnrolmentStore contract run against LMDB (the
// same contract runs against a Samba DC in tests/integration/
// test_enrolment_ad.py through enrolment_probe).
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "sspr/store/enrolment.h"
#include "sspr/util/secret.h"
#include "check_main.h"  // last: Check defines a fail() macro

using namespace sspr;
using namespace sspr::store;
namespace fs = std::filesystem;

namespace {

// A valid Argon2id string without paying for a hash in every test.
const char* kFakeHash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

// The default sealed seed holds NUL and 0xff bytes, as real ones do.
Enrolment Sample(const std::string& sealed = std::string("S\0\xffS", 4) + std::string(56, 'S')) {
  Enrolment e;
  e.registered_at = 1700000000;
  e.last_reconfirmed_at = 1710000000;
  e.skips_used = 2;
  TotpEnrolment t;
  t.sealed_seed = sealed;
  t.algorithm = TotpAlgorithm::kSha256;
  t.digits = 8;
  t.period_s = 30;
  t.last_step = 56666666;
  t.confirmed_at = 1700000100;
  e.totp = t;
  e.questions.push_back({3, "", kFakeHash, 1700000200});
  e.questions.push_back({0, "Name of your first teacher?", std::string(kFakeHash) + "x", 1700000300});
  e.contacts.push_back({ContactKind::kEmail, "alice.private@example.org", 1700000400});
  e.contacts.push_back({ContactKind::kMobile, "+15551234567", 1700000500});
  e.method_added_at["email"] = 1700000400;
  e.method_added_at["questions"] = 1700000200;
  e.method_added_at["totp"] = 1700000100;
  return e;
}

std::string TempDir(const char* tag) {
  std::string tmpl = std::string("/tmp/sspr-enrol-") + tag + "-XXXXXX";
  char* d = mkdtemp(tmpl.data());
  ck_assert_ptr_nonnull(d);
  return tmpl;
}

void Cleanup(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

Secret Key(unsigned char fill) {
  unsigned char k[32];
  std::memset(k, fill, sizeof k);
  return Secret(k, sizeof k);
}

void WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  fchmod(fd, mode);
  close(fd);
}

// ---- The shared store contract (same checks as the AD probe runs) ------------

void StoreContract(EnrolmentStore& store, const std::string& account, const std::string& other) {
  // absent -> nullopt
  auto none = store.Load(account);
  ck_assert_msg(none.ok(), "load of absent record failed: %s", none.ok() ? "" : none.error().detail.c_str());
  ck_assert(!none->has_value());
  // round trip
  Enrolment e = Sample();
  ck_assert(store.Save(account, e).ok());
  auto got = store.Load(account);
  ck_assert(got.ok() && got->has_value());
  ck_assert(**got == e);
  // the other account is untouched
  auto o = store.Load(other);
  ck_assert(o.ok() && !o->has_value());
  // overwrite
  e.questions.pop_back();
  e.totp.reset();
  e.skips_used = 0;
  ck_assert(store.Save(account, e).ok());
  got = store.Load(account);
  ck_assert(got.ok() && got->has_value());
  ck_assert(**got == e);
  // remove, twice (idempotent)
  ck_assert(store.Remove(account).ok());
  ck_assert(store.Remove(account).ok());
  got = store.Load(account);
  ck_assert(got.ok() && !got->has_value());
  // invalid names are refused, not stored
  ck_assert_int_eq(static_cast<int>(store.Save("", e).code()), static_cast<int>(Errc::kProtocol));
  ck_assert(!store.Save(std::string("a\0b", 3), e).ok());
  ck_assert(!store.Load(std::string(257, 'a')).ok());
}

// ---- Codec ------------------------------------------------------------------

START_TEST(codec_round_trip) {
  Enrolment e = Sample();
  auto bytes = EncodeEnrolment(e);
  ck_assert(bytes.ok());
  auto back = DecodeEnrolment(*bytes);
  ck_assert(back.ok());
  ck_assert(*back == e);
  Enrolment empty;
  auto b2 = EncodeEnrolment(empty);
  ck_assert(b2.ok());
  ck_assert_uint_eq(b2->size(), 4 + 1 + 1 + 8 + 8 + 4 + 3);
  auto e2 = DecodeEnrolment(*b2);
  ck_assert(e2.ok() && *e2 == empty);
}
END_TEST

START_TEST(decode_rejects_every_strict_prefix) {
  auto bytes = EncodeEnrolment(Sample());
  ck_assert(bytes.ok());
  for (std::size_t n = 0; n < bytes->size(); ++n) {
    auto r = DecodeEnrolment(std::string_view(*bytes).substr(0, n));
    ck_assert_msg(!r.ok(), "prefix of %zu bytes accepted", n);
    ck_assert_int_eq(static_cast<int>(r.code()), static_cast<int>(Errc::kIo));
  }
}
END_TEST

START_TEST(decode_rejects_trailing_bytes) {
  auto bytes = EncodeEnrolment(Sample());
  ck_assert(bytes.ok());
  ck_assert(!DecodeEnrolment(*bytes + std::string(1, '\0')).ok());
  ck_assert(!DecodeEnrolment(*bytes + "x").ok());
}
END_TEST

// Offsets of every length and count field in Sample()'s encoding, found
// from the layout (enrolment.cc header comment).
std::vector<std::size_t> LengthOffsets(const std::string& b, const Enrolment& e) {
  std::vector<std::size_t> off;
  std::size_t p = 4 + 1 + 1 + 8 + 8 + 4;
  p += 1 + 1 + 4 + 8 + 8;  // TOTP fixed part
  off.push_back(p);
  off.push_back(p + 1);
  p += 2 + e.totp->sealed_seed.size();
  off.push_back(p);  // question count
  p += 1;
  for (const auto& q : e.questions) {
    p += 2;  // id
    off.push_back(p);
    off.push_back(p + 1);
    p += 2 + q.custom_text.size();
    off.push_back(p);
    off.push_back(p + 1);
    p += 2 + q.answer_hash.size() + 8;
  }
  off.push_back(p);  // contact count
  p += 1;
  for (const auto& c : e.contacts) {
    p += 1;
    off.push_back(p);
    off.push_back(p + 1);
    p += 2 + c.value.size() + 8;
  }
  off.push_back(p);  // method count
  p += 1;
  for (const auto& [name, at] : e.method_added_at) {
    off.push_back(p);
    p += 1 + name.size() + 8;
  }
  ck_assert_uint_eq(p, b.size());  // the walk above matches the encoder
  return off;
}

START_TEST(decode_rejects_every_flipped_length_byte) {
  const Enrolment e = Sample();
  auto bytes = EncodeEnrolment(e);
  ck_assert(bytes.ok());
  const std::vector<std::size_t> offs = LengthOffsets(*bytes, e);
  ck_assert_uint_ge(offs.size(), 15);
  for (std::size_t o : offs) {
    for (int delta : {0xff, 0x01, 0x80, 0x7f, 0xfe}) {  // xor masks: flip all, low bit, ...
      std::string m = *bytes;
      m[o] = static_cast<char>(static_cast<unsigned char>(m[o]) ^ delta);
      ck_assert_msg(!DecodeEnrolment(m).ok(), "length byte %zu ^ 0x%x accepted", o, delta);
    }
    for (int add : {1, -1}) {
      std::string m = *bytes;
      m[o] = static_cast<char>(static_cast<unsigned char>(m[o]) + add);
      ck_assert_msg(!DecodeEnrolment(m).ok(), "length byte %zu %+d accepted", o, add);
    }
  }
}
END_TEST

START_TEST(decode_rejects_unknown_version_and_flags) {
  auto bytes = EncodeEnrolment(Sample());
  ck_assert(bytes.ok());
  for (int v : {0, 2, 255}) {
    std::string m = *bytes;
    m[4] = static_cast<char>(v);
    auto r = DecodeEnrolment(m);
    ck_assert(!r.ok());
  }
  std::string m = *bytes;
  m[5] = static_cast<char>(0x03);
  ck_assert(!DecodeEnrolment(m).ok());
  m = *bytes;
  m[0] = 'X';
  ck_assert(!DecodeEnrolment(m).ok());
  ck_assert(!DecodeEnrolment(std::string(kMaxEnrolmentBytes + 1, 'S')).ok());
}
END_TEST

START_TEST(decode_rejects_bad_fields) {
  // A TOTP with 9 digits, a contact of kind 3, out-of-order method names.
  auto bytes = EncodeEnrolment(Sample());
  ck_assert(bytes.ok());
  std::string m = *bytes;
  m[4 + 1 + 1 + 8 + 8 + 4 + 1] = 9;  // digits
  ck_assert(!DecodeEnrolment(m).ok());
  m = *bytes;
  m[4 + 1 + 1 + 8 + 8 + 4] = 0;  // algorithm
  ck_assert(!DecodeEnrolment(m).ok());
  // encoder refuses what the decoder would refuse
  Enrolment e = Sample();
  e.questions[0].answer_hash = "plaintext answer";
  ck_assert(!EncodeEnrolment(e).ok());
  e = Sample();
  e.questions[0].custom_text = "both id and text";
  ck_assert(!EncodeEnrolment(e).ok());
  e = Sample();
  e.contacts.push_back({ContactKind::kEmail, std::string("a\0b", 3), 1});
  ck_assert(!EncodeEnrolment(e).ok());
  e = Sample();
  e.method_added_at["Bad Name"] = 1;
  ck_assert(!EncodeEnrolment(e).ok());
  e = Sample();
  e.totp->digits = 5;
  ck_assert(!EncodeEnrolment(e).ok());
  e = Sample();
  for (int i = 0; i < 11; ++i) e.questions.push_back({7, "", kFakeHash, 0});
  ck_assert(!EncodeEnrolment(e).ok());
}
END_TEST

// ---- Sealing and the key file -----------------------------------------------

START_TEST(sealed_seed_opens_only_for_same_account_and_key) {
  const Secret key = Key(0x11);
  const char raw[] = "12345678901234567890";
  const Secret seed(raw, 20);
  auto sealed = SealSeed(key, "alice", seed);
  ck_assert(sealed.ok());
  ck_assert(sealed->find("12345678901234567890") == std::string::npos);
  auto opened = OpenSeed(key, "alice", *sealed);
  ck_assert(opened.ok());
  ck_assert(opened->Equals(seed));
  // two seals of one seed differ (random nonce)
  auto again = SealSeed(key, "alice", seed);
  ck_assert(again.ok() && *again != *sealed);
  // copied to another account: does not open
  ck_assert(!OpenSeed(key, "bob", *sealed).ok());
  ck_assert(!OpenSeed(key, "Alice", *sealed).ok());
  ck_assert(!OpenSeed(key, "alice ", *sealed).ok());
  // every flipped bit fails
  for (std::size_t i = 0; i < sealed->size(); ++i) {
    std::string m = *sealed;
    m[i] = static_cast<char>(m[i] ^ 0x01);
    ck_assert_msg(!OpenSeed(key, "alice", m).ok(), "tampered byte %zu opened", i);
  }
  ck_assert(!OpenSeed(key, "alice", std::string_view(*sealed).substr(0, sealed->size() - 1)).ok());
  ck_assert(!OpenSeed(key, "alice", "").ok());
  // a record holding the sealed seed round-trips and still opens
  auto enc = EncodeEnrolment(Sample(*sealed));
  ck_assert(enc.ok());
  auto rec = DecodeEnrolment(*enc);
  ck_assert(rec.ok());
  ck_assert(OpenSeed(key, "alice", rec->totp->sealed_seed).ok());
}
END_TEST

START_TEST(wrong_key_fails) {
  const Secret seed("abcdefghij", 10);
  auto sealed = SealSeed(Key(0x11), "alice", seed);
  ck_assert(sealed.ok());
  auto r = OpenSeed(Key(0x12), "alice", *sealed);
  ck_assert(!r.ok());
  ck_assert_int_eq(static_cast<int>(r.code()), static_cast<int>(Errc::kIo));
  ck_assert(!SealSeed(Secret("short", 5), "alice", seed).ok());
  ck_assert(!SealSeed(Key(1), "alice", Secret()).ok());
}
END_TEST

START_TEST(helper_key_created_private_and_reloaded) {
  const std::string dir = TempDir("key");
  const std::string path = dir + "/helper.key";
  auto k1 = LoadOrCreateHelperKey(path);
  ck_assert_msg(k1.ok(), "%s", k1.ok() ? "" : k1.error().detail.c_str());
  ck_assert_uint_eq(k1->size(), 32);
  struct stat st {};
  ck_assert_int_eq(lstat(path.c_str(), &st), 0);
  ck_assert(S_ISREG(st.st_mode));
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq(st.st_size, 32);
  auto k2 = LoadOrCreateHelperKey(path);
  ck_assert(k2.ok() && k2->Equals(*k1));
  // no temp files left behind
  int n = 0;
  for (const auto& ent : fs::directory_iterator(dir)) {
    (void)ent;
    ++n;
  }
  ck_assert_int_eq(n, 1);
  Cleanup(dir);
}
END_TEST

START_TEST(helper_key_refuses_unsafe_files) {
  const std::string dir = TempDir("keybad");
  // group-readable
  WriteFile(dir + "/k1", std::string(32, 'k'), 0640);
  auto r = LoadOrCreateHelperKey(dir + "/k1");
  ck_assert(!r.ok());
  ck_assert_int_eq(static_cast<int>(r.code()), static_cast<int>(Errc::kConfig));
  ck_assert(r.error().detail.find(dir + "/k1") != std::string::npos);
  // wrong sizes (a trailing newline is not stripped: raw key bytes)
  WriteFile(dir + "/k2", std::string(31, 'k'), 0600);
  ck_assert(!LoadOrCreateHelperKey(dir + "/k2").ok());
  WriteFile(dir + "/k3", std::string(32, 'k') + "\n", 0600);
  ck_assert(!LoadOrCreateHelperKey(dir + "/k3").ok());
  // a key whose last byte is '\n' is still 32 bytes
  WriteFile(dir + "/k4", std::string(31, 'k') + "\n", 0600);
  auto k4 = LoadOrCreateHelperKey(dir + "/k4");
  ck_assert(k4.ok() && k4->size() == 32);
  // symlink to a good key: refused, not followed; dangling symlink not created through
  ck_assert_int_eq(symlink((dir + "/k4").c_str(), (dir + "/link").c_str()), 0);
  ck_assert(!LoadOrCreateHelperKey(dir + "/link").ok());
  ck_assert_int_eq(symlink((dir + "/nowhere").c_str(), (dir + "/dangling").c_str()), 0);
  ck_assert(!LoadOrCreateHelperKey(dir + "/dangling").ok());
  ck_assert(!fs::exists(dir + "/nowhere"));
  // a FIFO does not block
  ck_assert_int_eq(mkfifo((dir + "/fifo").c_str(), 0600), 0);
  ck_assert(!LoadOrCreateHelperKey(dir + "/fifo").ok());
  Cleanup(dir);
}
END_TEST

// ---- Answers ----------------------------------------------------------------

START_TEST(normalise_answer_rules) {
  // Named strings, not temporaries: ck_assert_str_eq(f().c_str(), ..) dangles.
  const std::pair<const char*, const char*> cases[] = {
      {"  Paris  ", "paris"},      {"New\t  YORK\n", "new york"}, {"Rex!!!", "rex"},
      {"Rex .", "rex"},            {"St. Louis", "st. louis"},    {"...", ""},
      {"", ""},
      // non-ASCII bytes pass through unchanged (no locale, no tables)
      {"M\xc3\x9cNCHEN", "m\xc3\x9cnchen"},
  };
  for (const auto& [in, want] : cases) {
    const std::string got = NormaliseAnswer(in);
    ck_assert_msg(got == want, "NormaliseAnswer(\"%s\") = \"%s\", want \"%s\"", in, got.c_str(), want);
  }
}
END_TEST

START_TEST(answer_hash_verifies_only_the_answer) {
  const std::string a = NormaliseAnswer("  Mrs. Smith! ");
  auto h = HashAnswer(a);
  ck_assert(h.ok());
  ck_assert(h->rfind("$argon2id$", 0) == 0);
  ck_assert(h->find("smith") == std::string::npos);
  ck_assert(VerifyAnswer(*h, NormaliseAnswer("mrs.   SMITH")));
  ck_assert(!VerifyAnswer(*h, "mrs. smyth"));
  ck_assert(!VerifyAnswer(*h, ""));
  ck_assert(!VerifyAnswer("garbage", a));
  ck_assert(!HashAnswer("").ok());
  auto h2 = HashAnswer(a);
  ck_assert(h2.ok() && *h2 != *h);  // salted
  // the hash fits a record
  Enrolment e;
  e.questions.push_back({1, "", *h, 1});
  ck_assert(EncodeEnrolment(e).ok());
}
END_TEST

// ---- LMDB backend -------------------------------------------------------------

START_TEST(lmdb_store_contract) {
  const std::string dir = TempDir("lmdb") + "/store";
  auto s = LmdbEnrolmentStore::Open(dir);
  ck_assert_msg(s.ok(), "%s", s.ok() ? "" : s.error().detail.c_str());
  StoreContract(**s, "alice", "bob");
  // and it persists across a reopen
  ck_assert((*s)->Save("bob", Sample()).ok());
  s.value().reset();
  auto again = LmdbEnrolmentStore::Open(dir);
  ck_assert(again.ok());
  auto got = (*again)->Load("bob");
  ck_assert(got.ok() && got->has_value() && **got == Sample());
  struct stat st {};
  ck_assert_int_eq(lstat(dir.c_str(), &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0700);
  ck_assert_int_eq(lstat((dir + "/enrolment.mdb").c_str(), &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  Cleanup(fs::path(dir).parent_path());
}
END_TEST

START_TEST(lmdb_sealed_record_round_trip) {
  const std::string dir = TempDir("lmdbseal") + "/store";
  auto s = LmdbEnrolmentStore::Open(dir);
  ck_assert(s.ok());
  const Secret key = Key(0x33);
  const Secret seed("0123456789abcdefghij", 20);
  auto sealed = SealSeed(key, "alice", seed);
  ck_assert(sealed.ok());
  ck_assert((*s)->Save("alice", Sample(*sealed)).ok());
  // copy alice's record to bob: it loads, but the seed does not open
  auto a = (*s)->Load("alice");
  ck_assert(a.ok() && a->has_value());
  ck_assert((*s)->Save("bob", **a).ok());
  auto b = (*s)->Load("bob");
  ck_assert(b.ok() && b->has_value());
  auto opened = OpenSeed(key, "alice", (**a).totp->sealed_seed);
  ck_assert(opened.ok() && opened->Equals(seed));
  ck_assert(!OpenSeed(key, "bob", (**b).totp->sealed_seed).ok());
  ck_assert(!OpenSeed(Key(0x34), "alice", (**a).totp->sealed_seed).ok());
  Cleanup(fs::path(dir).parent_path());
}
END_TEST

START_TEST(lmdb_corrupt_store_is_an_error) {
  const std::string top = TempDir("corrupt");
  const std::string dir = top + "/store";
  {
    auto s = LmdbEnrolmentStore::Open(dir);
    ck_assert(s.ok());
    for (int i = 0; i < 50; ++i) ck_assert((*s)->Save("user" + std::to_string(i), Sample()).ok());
  }
  const std::string file = dir + "/enrolment.mdb";
  std::string orig;
  {
    std::ifstream in(file, std::ios::binary);
    orig.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ck_assert_uint_gt(orig.size(), 8192);
  // (1) garbage over the whole file, (2) the meta pages, (3) the data pages,
  // (4) truncated. Each: an error naming the file, never a crash.
  std::vector<std::string> variants;
  variants.push_back(std::string(orig.size(), '\x5a'));
  {
    std::string m = orig;
    for (std::size_t i = 0; i < 8192; i += 7) m[i] = static_cast<char>(m[i] ^ 0xa5);
    variants.push_back(m);
  }
  {
    std::string m = orig;
    for (std::size_t i = 8192; i < m.size(); i += 3) m[i] = static_cast<char>(m[i] ^ 0x5a);
    variants.push_back(m);
  }
  variants.push_back(orig.substr(0, 4096 + 100));
  int n = 0;
  for (const std::string& v : variants) {
    WriteFile(file, v, 0600);
    auto s = LmdbEnrolmentStore::Open(dir);
    if (s.ok()) {
      // If LMDB's own checks cannot see it, reading every record must.
      bool failed = false;
      for (int i = 0; i < 50 && !failed; ++i) failed = !(*s)->Load("user" + std::to_string(i)).ok();
      ck_assert_msg(failed, "corrupt variant %d opened and read cleanly", n);
    } else {
      ck_assert_int_eq(static_cast<int>(s.code()), static_cast<int>(Errc::kIo));
      ck_assert_msg(s.error().detail.find(file) != std::string::npos, "error does not name the file: %s",
                    s.error().detail.c_str());
    }
    ++n;
  }
  Cleanup(top);
}
END_TEST

START_TEST(lmdb_bad_record_is_an_error_not_absent) {
  const std::string top = TempDir("badrec");
  const std::string dir = top + "/store";
  {
    auto s = LmdbEnrolmentStore::Open(dir);
    ck_assert(s.ok());
    ck_assert((*s)->Save("alice", Sample()).ok());
  }
  // Write a record that LMDB accepts but our decoder refuses.
  {
    MDB_env* env = nullptr;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_open(env, (dir + "/enrolment.mdb").c_str(), MDB_NOSUBDIR, 0600), 0);
    MDB_txn* txn = nullptr;
    ck_assert_int_eq(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi = 0;
    ck_assert_int_eq(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    std::string k = "mallory", v = "SSPE\x01garbage";
    MDB_val kv{k.size(), k.data()}, vv{v.size(), v.data()};
    ck_assert_int_eq(mdb_put(txn, dbi, &kv, &vv, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto s = LmdbEnrolmentStore::Open(dir);
  ck_assert(!s.ok());
  ck_assert(s.error().detail.find(dir + "/enrolment.mdb") != std::string::npos);
  ck_assert(s.error().detail.find("bad format") != std::string::npos);
  Cleanup(top);
}
END_TEST

START_TEST(lmdb_bad_permissions_refused) {
  const std::string top = TempDir("perm");
  // directory open to others
  const std::string d1 = top + "/open";
  ck_assert_int_eq(mkdir(d1.c_str(), 0755), 0);
  chmod(d1.c_str(), 0755);
  auto r = LmdbEnrolmentStore::Open(d1);
  ck_assert(!r.ok());
  ck_assert_int_eq(static_cast<int>(r.code()), static_cast<int>(Errc::kConfig));
  // directory is a symlink to a good one
  const std::string d2 = top + "/good";
  ck_assert(LmdbEnrolmentStore::Open(d2).ok());
  ck_assert_int_eq(symlink(d2.c_str(), (top + "/link").c_str()), 0);
  r = LmdbEnrolmentStore::Open(top + "/link");
  ck_assert(!r.ok());
  ck_assert_int_eq(static_cast<int>(r.code()), static_cast<int>(Errc::kConfig));
  // data file readable by others
  chmod((d2 + "/enrolment.mdb").c_str(), 0644);
  r = LmdbEnrolmentStore::Open(d2);
  ck_assert(!r.ok());
  ck_assert(r.error().detail.find("enrolment.mdb") != std::string::npos);
  chmod((d2 + "/enrolment.mdb").c_str(), 0600);
  ck_assert(LmdbEnrolmentStore::Open(d2).ok());
  // data file is a symlink
  const std::string d3 = top + "/symfile";
  ck_assert_int_eq(mkdir(d3.c_str(), 0700), 0);
  ck_assert_int_eq(symlink((d2 + "/enrolment.mdb").c_str(), (d3 + "/enrolment.mdb").c_str()), 0);
  r = LmdbEnrolmentStore::Open(d3);
  ck_assert(!r.ok());
  ck_assert_int_eq(static_cast<int>(r.code()), static_cast<int>(Errc::kConfig));
  // data file hard-linked elsewhere
  const std::string d4 = top + "/hard";
  ck_assert_int_eq(mkdir(d4.c_str(), 0700), 0);
  ck_assert_int_eq(link((d2 + "/enrolment.mdb").c_str(), (d4 + "/enrolment.mdb").c_str()), 0);
  ck_assert(!LmdbEnrolmentStore::Open(d4).ok());
  // a file where the directory should be
  WriteFile(top + "/plain", "x", 0600);
  ck_assert(!LmdbEnrolmentStore::Open(top + "/plain").ok());
  Cleanup(top);
}
END_TEST

START_TEST(lmdb_full_store_keeps_old_record) {
  // The "disk full" row: a tiny map fills up; the failed Save is an error
  // naming the file and the previous record is intact.
  const std::string top = TempDir("full");
  const std::string dir = top + "/store";
  auto s = LmdbEnrolmentStore::Open(dir, std::size_t{1} << 16);
  ck_assert(s.ok());
  Enrolment big = Sample();
  for (int i = 0; i < 8; ++i) big.questions.push_back({0, std::string(400, static_cast<char>('a' + i)), kFakeHash, 1});
  ck_assert(EncodeEnrolment(big).ok());
  Status last;
  int saved = 0;
  for (int i = 0; i < 200; ++i) {
    last = (*s)->Save("user" + std::to_string(i), big);
    if (!last.ok()) break;
    ++saved;
  }
  ck_assert_msg(!last.ok(), "map never filled");
  ck_assert_int_eq(static_cast<int>(last.code()), static_cast<int>(Errc::kIo));
  ck_assert(last.error().detail.find(dir + "/enrolment.mdb") != std::string::npos);
  ck_assert_int_gt(saved, 0);
  auto got = (*s)->Load("user0");
  ck_assert(got.ok() && got->has_value() && **got == big);
  auto none = (*s)->Load("user" + std::to_string(saved));
  ck_assert(none.ok() && !none->has_value());
  // room again after a remove
  ck_assert((*s)->Remove("user0").ok());
  Cleanup(top);
}
END_TEST

}  // namespace

Suite* MakeSuite() {
  Suite* s = suite_create("enrolment");
  TCase* codec = tcase_create("codec");
  tcase_add_test(codec, codec_round_trip);
  tcase_add_test(codec, decode_rejects_every_strict_prefix);
  tcase_add_test(codec, decode_rejects_trailing_bytes);
  tcase_add_test(codec, decode_rejects_every_flipped_length_byte);
  tcase_add_test(codec, decode_rejects_unknown_version_and_flags);
  tcase_add_test(codec, decode_rejects_bad_fields);
  suite_add_tcase(s, codec);
  TCase* seal = tcase_create("seal");
  tcase_add_test(seal, sealed_seed_opens_only_for_same_account_and_key);
  tcase_add_test(seal, wrong_key_fails);
  tcase_add_test(seal, helper_key_created_private_and_reloaded);
  tcase_add_test(seal, helper_key_refuses_unsafe_files);
  tcase_add_test(seal, normalise_answer_rules);
  tcase_add_test(seal, answer_hash_verifies_only_the_answer);
  suite_add_tcase(s, seal);
  TCase* lmdb = tcase_create("lmdb");
  tcase_set_timeout(lmdb, 60);
  tcase_add_test(lmdb, lmdb_store_contract);
  tcase_add_test(lmdb, lmdb_sealed_record_round_trip);
  tcase_add_test(lmdb, lmdb_corrupt_store_is_an_error);
  tcase_add_test(lmdb, lmdb_bad_record_is_an_error_not_absent);
  tcase_add_test(lmdb, lmdb_bad_permissions_refused);
  tcase_add_test(lmdb, lmdb_full_store_keeps_old_record);
  suite_add_tcase(s, lmdb);
  return s;
}

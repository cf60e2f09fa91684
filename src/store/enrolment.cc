// Enrolment records: the binary codec, TOTP seed sealing, the helper's key
// file and security-answer hashing. The two storage backends live in
// enrolment_lmdb.cc and enrolment_ad.cc.
//
// Record format, version 1 (all integers big-endian; lengths are checked
// against the field's cap and the bytes left before anything is allocated;
// the record must be consumed exactly):
//   "SSPE" | version u8 = 1 | flags u8 (bit 0: TOTP present; others 0)
//   registered_at i64 | last_reconfirmed_at i64 | skips_used u32
//   [TOTP] algorithm u8 (1..3) | digits u8 (6..8) | period u32 (1..300)
//          | last_step u64 | confirmed_at i64 | sealed seed u16 len + bytes
//   questions u8 n (<= 10), each: id u16 | text u16 len + bytes
//          | hash u16 len + bytes | registered_at i64
//   contacts u8 n (<= 8), each: kind u8 (1..2) | value u16 len + bytes | added_at i64
//   methods u8 n (<= 16), each: name u8 len + bytes | added_at i64 (names strictly ascending)
// A new layout gets a new version byte; an unknown version is refused, never
// guessed at.
#include "sspr/store/enrolment.h"

#include "store_internal.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sspr::store {
namespace {

constexpr char kMagic[4] = {'S', 'S', 'P', 'E'};
constexpr std::uint8_t kFlagTotp = 0x01;

// ---- Writer ----------------------------------------------------------------

class Writer {
 public:
  void U8(std::uint8_t v) { m_out.push_back(static_cast<char>(v)); }
  void U16(std::uint16_t v) { Be(v, 2); }
  void U32(std::uint32_t v) { Be(v, 4); }
  void U64(std::uint64_t v) { Be(v, 8); }
  void I64(std::int64_t v) { Be(static_cast<std::uint64_t>(v), 8); }
  void Raw(std::string_view s) { m_out.append(s); }
  std::string Take() { return std::move(m_out); }

 private:
  void Be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) m_out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string m_out;
};

// ---- Reader: the first error sticks, every read checks what is left --------

class Reader {
 public:
  explicit Reader(std::string_view in) : m_in(in) {}
  bool ok() const { return m_err == nullptr; }
  const char* err() const { return m_err; }
  bool Done() const { return m_off == m_in.size(); }
  void Fail(const char* why) {
    if (m_err == nullptr) m_err = why;
  }

  std::uint8_t U8() { return static_cast<std::uint8_t>(Be(1)); }
  std::uint16_t U16() { return static_cast<std::uint16_t>(Be(2)); }
  std::uint32_t U32() { return static_cast<std::uint32_t>(Be(4)); }
  std::uint64_t U64() { return Be(8); }
  std::int64_t I64() { return static_cast<std::int64_t>(Be(8)); }
  std::string_view Raw(std::size_t n) {
    if (!ok()) return {};
    if (m_in.size() - m_off < n) {
      Fail("truncated");
      return {};
    }
    std::string_view v = m_in.substr(m_off, n);
    m_off += n;
    return v;
  }
  // A string with a u16 (or u8) length: cap and remaining size are checked
  // before the bytes are copied; NUL is refused unless `binary`.
  std::string Str(std::size_t len, std::size_t min, std::size_t cap, const char* what, bool binary = false) {
    if (!ok()) return {};
    if (len < min || len > cap) {
      Fail(what);
      return {};
    }
    std::string_view v = Raw(len);
    if (!ok()) return {};
    if (!binary && v.find('\0') != std::string_view::npos) {
      Fail(what);
      return {};
    }
    return std::string(v);
  }

 private:
  std::uint64_t Be(std::size_t n) {
    std::string_view b = Raw(n);
    if (!ok()) return 0;
    std::uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
    return v;
  }
  std::string_view m_in;
  std::size_t m_off = 0;
  const char* m_err = nullptr;
};

bool ValidAlgorithm(std::uint8_t a) { return a >= 1 && a <= 3; }
bool ValidDigits(std::uint8_t d) { return d >= 6 && d <= 8; }
bool ValidPeriod(std::uint32_t p) { return p >= 1 && p <= 300; }
bool ValidKind(std::uint8_t k) { return k == 1 || k == 2; }

// crypto_pwhash_str output: "$argon2id$" then printable ASCII.
bool ValidHash(std::string_view h) {
  if (h.size() < 10 || h.size() > kMaxAnswerHash || h.substr(0, 10) != "$argon2id$") return false;
  for (char c : h) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

bool ValidMethodName(std::string_view n) {
  if (n.empty() || n.size() > kMaxMethodName) return false;
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool NoNul(std::string_view s) { return s.find('\0') == std::string_view::npos; }

// Additional data for sealing: a label, then the account, length-prefixed
// (SECURITY.md rule 12: nothing is concatenated ambiguously).
std::string SealAd(std::string_view account) {
  std::string ad = "sspr-totp-seed-v1";
  ad.push_back(static_cast<char>((account.size() >> 8) & 0xff));
  ad.push_back(static_cast<char>(account.size() & 0xff));
  ad.append(account);
  return ad;
}
constexpr std::uint8_t kSealVersion = 1;
constexpr std::size_t kMaxSeed = 128;

using internal::Errno;

// Opens and checks the key file like ReadSecretFile, but the key is raw
// bytes: no newline stripping, exactly 32 bytes. ENOENT is reported as such
// so the caller can create it.
Result<Secret> ReadKeyFile(const std::string& path, bool* absent) {
  *absent = false;
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) *absent = true;
    if (e == ELOOP) return Fail(Errc::kConfig, path + ": is a symlink; refused");
    return Fail(e == ENOENT ? Errc::kConfig : Errc::kIo, Errno(path, "cannot open", e));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) return Fail(Errc::kIo, Errno(path, "fstat", errno));
  if (!S_ISREG(st.st_mode)) return Fail(Errc::kConfig, path + ": not a regular file; refused");
  if (st.st_uid != geteuid())
    return Fail(Errc::kConfig, path + ": owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                                   std::to_string(geteuid()) + "; fix with chown");
  if ((st.st_mode & 077) != 0)
    return Fail(Errc::kConfig, path + ": readable or writable by group/others; fix with chmod 600 " + path);
  if (st.st_size != static_cast<off_t>(kHelperKeyBytes))
    return Fail(Errc::kConfig, path + ": must hold exactly 32 bytes, holds " + std::to_string(st.st_size) +
                                   "; restore it from backup (sealed TOTP seeds need the same key)");
  unsigned char zero[kHelperKeyBytes] = {};
  Secret key(zero, sizeof zero);
  std::size_t got = 0;
  while (got < kHelperKeyBytes) {
    ssize_t n = read(fd, key.data() + got, kHelperKeyBytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(Errc::kIo, path + ": short read");
    got += static_cast<std::size_t>(n);
  }
  return key;
}

}  // namespace

// ---- Codec -----------------------------------------------------------------

Result<std::string> EncodeEnrolment(const Enrolment& e) {
  auto bad = [](const char* what) { return Fail(Errc::kInternal, std::string("enrolment encode: ") + what); };
  if (e.version != kEnrolmentVersion) return bad("unknown version");
  if (e.questions.size() > kMaxQuestions) return bad("too many questions");
  if (e.contacts.size() > kMaxContacts) return bad("too many contacts");
  if (e.method_added_at.size() > kMaxMethods) return bad("too many methods");
  Writer w;
  w.Raw(std::string_view(kMagic, sizeof kMagic));
  w.U8(kEnrolmentVersion);
  w.U8(e.totp ? kFlagTotp : 0);
  w.I64(e.registered_at);
  w.I64(e.last_reconfirmed_at);
  w.U32(e.skips_used);
  if (e.totp) {
    const TotpEnrolment& t = *e.totp;
    const auto alg = static_cast<std::uint8_t>(t.algorithm);
    if (!ValidAlgorithm(alg) || !ValidDigits(t.digits) || !ValidPeriod(t.period_s)) return bad("bad TOTP parameters");
    if (t.sealed_seed.empty() || t.sealed_seed.size() > kMaxSealedSeed) return bad("bad sealed seed size");
    w.U8(alg);
    w.U8(t.digits);
    w.U32(t.period_s);
    w.U64(t.last_step);
    w.I64(t.confirmed_at);
    w.U16(static_cast<std::uint16_t>(t.sealed_seed.size()));
    w.Raw(t.sealed_seed);
  }
  w.U8(static_cast<std::uint8_t>(e.questions.size()));
  for (const SecurityQuestion& q : e.questions) {
    if ((q.question_id == 0) == q.custom_text.empty()) return bad("question needs exactly one of id or custom text");
    if (q.custom_text.size() > kMaxQuestionText || !NoNul(q.custom_text)) return bad("bad question text");
    if (!ValidHash(q.answer_hash)) return bad("answer hash is not an Argon2id string");
    w.U16(q.question_id);
    w.U16(static_cast<std::uint16_t>(q.custom_text.size()));
    w.Raw(q.custom_text);
    w.U16(static_cast<std::uint16_t>(q.answer_hash.size()));
    w.Raw(q.answer_hash);
    w.I64(q.registered_at);
  }
  w.U8(static_cast<std::uint8_t>(e.contacts.size()));
  for (const ContactMethod& c : e.contacts) {
    const auto kind = static_cast<std::uint8_t>(c.kind);
    if (!ValidKind(kind)) return bad("bad contact kind");
    if (c.value.empty() || c.value.size() > kMaxContactValue || !NoNul(c.value)) return bad("bad contact value");
    w.U8(kind);
    w.U16(static_cast<std::uint16_t>(c.value.size()));
    w.Raw(c.value);
    w.I64(c.added_at);
  }
  w.U8(static_cast<std::uint8_t>(e.method_added_at.size()));
  for (const auto& [name, at] : e.method_added_at) {  // std::map: ascending
    if (!ValidMethodName(name)) return bad("bad method name");
    w.U8(static_cast<std::uint8_t>(name.size()));
    w.Raw(name);
    w.I64(at);
  }
  std::string out = w.Take();
  if (out.size() > kMaxEnrolmentBytes) return bad("record too large");
  return out;
}

Result<Enrolment> DecodeEnrolment(std::string_view bytes) {
  auto bad = [](const char* what) { return Fail(Errc::kIo, std::string("enrolment record: ") + what); };
  if (bytes.size() > kMaxEnrolmentBytes) return bad("too large");
  Reader r(bytes);
  if (r.Raw(sizeof kMagic) != std::string_view(kMagic, sizeof kMagic)) return bad("not an enrolment record");
  const std::uint8_t version = r.U8();
  if (!r.ok()) return bad(r.err());
  if (version != kEnrolmentVersion) return bad("unknown version");
  const std::uint8_t flags = r.U8();
  if (r.ok() && (flags & ~kFlagTotp) != 0) r.Fail("unknown flags");
  Enrolment e;
  e.registered_at = r.I64();
  e.last_reconfirmed_at = r.I64();
  e.skips_used = r.U32();
  if (r.ok() && (flags & kFlagTotp) != 0) {
    TotpEnrolment t;
    const std::uint8_t alg = r.U8();
    t.digits = r.U8();
    t.period_s = r.U32();
    t.last_step = r.U64();
    t.confirmed_at = r.I64();
    if (r.ok() && (!ValidAlgorithm(alg) || !ValidDigits(t.digits) || !ValidPeriod(t.period_s)))
      r.Fail("bad TOTP parameters");
    t.algorithm = static_cast<TotpAlgorithm>(alg);
    t.sealed_seed = r.Str(r.U16(), 1, kMaxSealedSeed, "bad sealed seed", /*binary=*/true);
    e.totp = std::move(t);
  }
  const std::uint8_t nq = r.U8();
  if (r.ok() && nq > kMaxQuestions) r.Fail("too many questions");
  for (std::uint8_t i = 0; r.ok() && i < nq; ++i) {
    SecurityQuestion q;
    q.question_id = r.U16();
    q.custom_text = r.Str(r.U16(), 0, kMaxQuestionText, "bad question text");
    if (r.ok() && (q.question_id == 0) == q.custom_text.empty()) r.Fail("question needs exactly one of id or text");
    q.answer_hash = r.Str(r.U16(), 1, kMaxAnswerHash, "bad answer hash");
    if (r.ok() && !ValidHash(q.answer_hash)) r.Fail("bad answer hash");
    q.registered_at = r.I64();
    if (r.ok()) e.questions.push_back(std::move(q));
  }
  const std::uint8_t nc = r.U8();
  if (r.ok() && nc > kMaxContacts) r.Fail("too many contacts");
  for (std::uint8_t i = 0; r.ok() && i < nc; ++i) {
    ContactMethod c;
    const std::uint8_t kind = r.U8();
    if (r.ok() && !ValidKind(kind)) r.Fail("bad contact kind");
    c.kind = static_cast<ContactKind>(kind);
    c.value = r.Str(r.U16(), 1, kMaxContactValue, "bad contact value");
    c.added_at = r.I64();
    if (r.ok()) e.contacts.push_back(std::move(c));
  }
  const std::uint8_t nm = r.U8();
  if (r.ok() && nm > kMaxMethods) r.Fail("too many methods");
  std::string prev;
  for (std::uint8_t i = 0; r.ok() && i < nm; ++i) {
    std::string name = r.Str(r.U8(), 1, kMaxMethodName, "bad method name");
    if (r.ok() && !ValidMethodName(name)) r.Fail("bad method name");
    if (r.ok() && i > 0 && !(prev < name)) r.Fail("method names not in strict order");
    const std::int64_t at = r.I64();
    if (r.ok()) {
      prev = name;
      e.method_added_at.emplace(std::move(name), at);
    }
  }
  if (r.ok() && !r.Done()) r.Fail("trailing bytes");
  if (!r.ok()) return bad(r.err());
  return e;
}

// ---- Sealing ---------------------------------------------------------------

Result<std::string> SealSeed(const Secret& key, std::string_view account, const Secret& seed) {
  CryptoInit();
  if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    return Fail(Errc::kInternal, "seal: the helper key must be 32 bytes");
  if (Status s = CheckAccountName(account); !s) return Fail(std::move(s).error());
  if (seed.empty() || seed.size() > kMaxSeed) return Fail(Errc::kInternal, "seal: seed must be 1..128 bytes");
  const std::string ad = SealAd(account);
  std::string out(1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + seed.size() +
                      crypto_aead_xchacha20poly1305_ietf_ABYTES,
                  '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[0] = kSealVersion;
  unsigned char* nonce = p + 1;
  randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long clen = 0;
  // The version byte is authenticated too: it is part of the AD.
  std::string full_ad = std::string(1, static_cast<char>(kSealVersion)) + ad;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, seed.data(), seed.size(),
          reinterpret_cast<const unsigned char*>(full_ad.data()), full_ad.size(), nullptr, nonce,
          key.data()) != 0)
    return Fail(Errc::kInternal, "seal: encryption failed");
  out.resize(1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + static_cast<std::size_t>(clen));
  return out;
}

Result<Secret> OpenSeed(const Secret& key, std::string_view account, std::string_view sealed) {
  CryptoInit();
  const auto no = [] { return Fail(Errc::kIo, "sealed seed does not open (wrong key, other account or damaged)"); };
  if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    return Fail(Errc::kInternal, "open: the helper key must be 32 bytes");
  if (Status s = CheckAccountName(account); !s) return Fail(std::move(s).error());
  constexpr std::size_t kOverhead = 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                    crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() <= kOverhead || sealed.size() > kOverhead + kMaxSeed) return no();
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  if (p[0] != kSealVersion) return no();
  const unsigned char* nonce = p + 1;
  const unsigned char* c = nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  const std::size_t clen = sealed.size() - 1 - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  const std::size_t mlen = clen - crypto_aead_xchacha20poly1305_ietf_ABYTES;
  std::string full_ad = std::string(1, static_cast<char>(kSealVersion)) + SealAd(account);
  unsigned char zero[kMaxSeed] = {};
  Secret seed(zero, mlen);  // locked memory: the plaintext never lands elsewhere
  unsigned long long got = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed.data(), &got, nullptr, c, clen,
                                                 reinterpret_cast<const unsigned char*>(full_ad.data()),
                                                 full_ad.size(), nonce, key.data()) != 0 ||
      got != mlen)
    return no();
  return seed;
}

Result<Secret> LoadOrCreateHelperKey(const std::string& path) {
  CryptoInit();
  if (path.empty() || path.back() == '/') return Fail(Errc::kConfig, "helper key: a file path is needed");
  bool absent = false;
  auto key = ReadKeyFile(path, &absent);
  if (key.ok() || !absent) return key;

  // Create: temp file (O_EXCL|O_NOFOLLOW, 0600) in the same directory,
  // write, fsync, then link(2) — which never replaces an existing file — so
  // a concurrent creator wins cleanly and a crash leaves no short key.
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  unsigned char rnd[8];
  randombytes_buf(rnd, sizeof rnd);
  std::string tmp = path + ".tmp.";
  for (unsigned char b : rnd) {
    static const char kHex[] = "0123456789abcdef";
    tmp.push_back(kHex[b >> 4]);
    tmp.push_back(kHex[b & 15]);
  }
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) return Fail(Errc::kIo, Errno(tmp, "cannot create", errno));
  Secret fresh = Secret::Random(kHelperKeyBytes);
  bool ok = fchmod(fd, 0600) == 0;
  std::size_t put = 0;
  while (ok && put < fresh.size()) {
    ssize_t n = write(fd, fresh.data() + put, fresh.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    put += static_cast<std::size_t>(n);
  }
  int err = errno;
  if (ok && fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    unlink(tmp.c_str());
    return Fail(Errc::kIo, Errno(tmp, "cannot write the new key", err));
  }
  const int lrc = link(tmp.c_str(), path.c_str());
  const int lerr = errno;
  unlink(tmp.c_str());
  if (lrc != 0 && lerr != EEXIST) return Fail(Errc::kIo, Errno(path, "cannot install the new key", lerr));
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  // Read back through the same checks (if another process won the race,
  // this is its key).
  return ReadKeyFile(path, &absent);
}

// ---- Answers ---------------------------------------------------------------

std::string NormaliseAnswer(std::string_view answer) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  const auto punct = [](char c) {
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
  };
  std::string out;
  out.reserve(answer.size());
  bool pending_space = false;
  for (char c : answer) {
    if (space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.push_back(c);
  }
  // Trailing punctuation (and any space it leaves behind) goes: "Paris." and
  // "Paris !" are the same answer.
  while (!out.empty() && (punct(out.back()) || out.back() == ' ')) out.pop_back();
  return out;
}

Result<std::string> HashAnswer(std::string_view normalised) {
  CryptoInit();
  if (normalised.empty()) return Fail(Errc::kInternal, "answer hash: empty answer refused");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, normalised.data(), normalised.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return Fail(Errc::kInternal, "answer hash: Argon2id failed (out of memory?)");
  std::string h(out);
  if (!ValidHash(h)) return Fail(Errc::kInternal, "answer hash: unexpected output");
  return h;
}

bool VerifyAnswer(std::string_view hash, std::string_view normalised) {
  CryptoInit();
  if (normalised.empty() || !ValidHash(hash) || hash.size() >= crypto_pwhash_STRBYTES) return false;
  char buf[crypto_pwhash_STRBYTES] = {};
  std::memcpy(buf, hash.data(), hash.size());
  return crypto_pwhash_str_verify(buf, normalised.data(), normalised.size()) == 0;
}

Status CheckAccountName(std::string_view account) {
  if (account.empty() || account.size() > kMaxAccountName)
    return Fail(Errc::kProtocol, "enrolment: account name must be 1..256 bytes");
  if (!NoNul(account)) return Fail(Errc::kProtocol, "enrolment: account name contains NUL");
  return {};
}

}  // namespace sspr::store

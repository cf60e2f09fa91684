// Enrolment store: what a user registered for self-service reset
// (SECURITY.md rules 4, 5, 9, 12).
//
// A record (Enrolment) holds the user's TOTP authenticator (seed sealed
// with the helper's key and bound to the account), security questions
// (Argon2id hashes of normalised answers, never the answers), contact
// methods the user added (each with its added-at time, for the cool-down of
// rule 5), and registration times. It is stored as one compact, versioned,
// length-prefixed binary value (EncodeEnrolment / DecodeEnrolment; format
// in enrolment.cc) by one of two backends behind EnrolmentStore:
//   * LmdbEnrolmentStore: a private LMDB file on the helper's host;
//   * AdEnrolmentStore:   a confidential attribute on the user object
//                         (conf/schema/sspr-enrolment.ldif).
//
// Secrets: the encoded record holds no secret in clear (sealed seed,
// password hashes only), but it is still private data: the LMDB directory
// is owner-only and the AD attribute is confidential. Seeds opened with
// OpenSeed and answers given to HashAnswer/VerifyAnswer are secrets; callers
// keep them in sspr::Secret or wipe them (WipeString).
//
// Account names are used byte for byte (the key, and the sealing binding):
// callers pass the canonical name (sAMAccountName as the directory returns
// it), 1..256 bytes, no NUL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/util/result.h"
#include "sspr/util/secret.h"

struct MDB_env;  // lmdb.h stays out of this header

namespace sspr::ad {
class Client;
}

namespace sspr::store {

// ---- The record ------------------------------------------------------------

inline constexpr std::uint8_t kEnrolmentVersion = 1;

// Caps enforced by both the encoder and the decoder.
inline constexpr std::size_t kMaxEnrolmentBytes = 16384;  // = rangeUpper in the LDIF
inline constexpr std::size_t kMaxAccountName = 256;
inline constexpr std::size_t kMaxSealedSeed = 24 + 1 + 128 + 16;  // nonce, version, seed, tag
inline constexpr std::size_t kMaxQuestions = 10;
inline constexpr std::size_t kMaxQuestionText = 512;
inline constexpr std::size_t kMaxAnswerHash = 256;  // crypto_pwhash_STRBYTES is 128
inline constexpr std::size_t kMaxContacts = 8;
inline constexpr std::size_t kMaxContactValue = 320;
inline constexpr std::size_t kMaxMethods = 16;
inline constexpr std::size_t kMaxMethodName = 32;

enum class TotpAlgorithm : std::uint8_t { kSha1 = 1, kSha256 = 2, kSha512 = 3 };

struct TotpEnrolment {
  std::string sealed_seed;   // SealSeed() output: opaque, bound to the account
  TotpAlgorithm algorithm = TotpAlgorithm::kSha1;
  std::uint8_t digits = 6;         // 6..8
  std::uint32_t period_s = 30;     // 1..300
  std::uint64_t last_step = 0;     // last accepted RFC 6238 time step (replay refusal); 0 = none
  std::int64_t confirmed_at = 0;   // Unix seconds; 0 = not yet confirmed
  bool operator==(const TotpEnrolment&) const = default;
};

struct SecurityQuestion {
  std::uint16_t question_id = 0;   // catalog id; 0 = custom question
  std::string custom_text;         // UTF-8, non-empty iff question_id == 0
  std::string answer_hash;         // HashAnswer() output ("$argon2id$...")
  std::int64_t registered_at = 0;
  bool operator==(const SecurityQuestion&) const = default;
};

enum class ContactKind : std::uint8_t { kEmail = 1, kMobile = 2 };

// A contact method the user added (not the directory's own mail/mobile).
struct ContactMethod {
  ContactKind kind = ContactKind::kEmail;
  std::string value;               // address or E.164 number, 1..320 bytes
  std::int64_t added_at = 0;       // starts the cool-down before it may reset
  bool operator==(const ContactMethod&) const = default;
};

struct Enrolment {
  std::uint8_t version = kEnrolmentVersion;  // decoded records always carry kEnrolmentVersion
  std::optional<TotpEnrolment> totp;
  std::vector<SecurityQuestion> questions;
  std::vector<ContactMethod> contacts;
  std::int64_t registered_at = 0;
  std::int64_t last_reconfirmed_at = 0;
  std::uint32_t skips_used = 0;    // times the user postponed registration
  // When each method was added ("totp", "questions", "email", ...):
  // names 1..32 bytes of [a-z0-9_.-]; the cool-down of rule 5 reads these.
  std::map<std::string, std::int64_t> method_added_at;
  bool operator==(const Enrolment&) const = default;
};

// Encode: fails with kInternal if a field breaks a cap (the caller built an
// invalid record). Decode: strict — caps checked before allocation, known
// version only, exact consumption, no NUL in strings; any fault is kIo with
// a short reason (never the record's content).
Result<std::string> EncodeEnrolment(const Enrolment& e);
Result<Enrolment> DecodeEnrolment(std::string_view bytes);

// ---- Sealing TOTP seeds ----------------------------------------------------

inline constexpr std::size_t kHelperKeyBytes = 32;

// The helper's sealing key: read from `path` (O_NOFOLLOW|O_NONBLOCK, regular
// file, owned by the effective uid, no group/other bits, exactly 32 bytes);
// if `path` does not exist it is created with 32 random bytes, mode 0600,
// atomically (temp file with O_EXCL|O_NOFOLLOW, fsync, link(2) to `path`,
// so a racing creator or a crash never leaves a short key in place). The
// parent directory must exist. Errors (kConfig/kIo) name the file.
Result<Secret> LoadOrCreateHelperKey(const std::string& path);

// Seal `seed` (1..128 bytes) for `account` with XChaCha20-Poly1305 (a random
// 192-bit nonce kept with the ciphertext); the account name is additional
// data, so the sealed bytes open only for that account and key.
Result<std::string> SealSeed(const Secret& key, std::string_view account, const Secret& seed);
// The seed, or kIo ("sealed seed does not open") for a wrong key, another
// account or tampered bytes alike: the three are indistinguishable.
Result<Secret> OpenSeed(const Secret& key, std::string_view account, std::string_view sealed);

// ---- Security answers ------------------------------------------------------

// ASCII case-fold, every run of ASCII whitespace becomes one space, leading
// and trailing whitespace removed, trailing ASCII punctuation removed (then
// trimmed again). Bytes >= 0x80 pass through unchanged (no Unicode tables:
// the same input always gives the same output on every host). The result
// is the secret answer: wipe it after use.
std::string NormaliseAnswer(std::string_view answer);

// Argon2id (libsodium crypto_pwhash_str) with OPSLIMIT_INTERACTIVE /
// MEMLIMIT_INTERACTIVE (64 MiB): the helper verifies answers of many users
// at once, so MODERATE's 256 MiB per verification would let a burst of
// guesses exhaust memory. Empty answers are refused (kInternal).
Result<std::string> HashAnswer(std::string_view normalised);
// Constant-time in the answer (libsodium); false for a malformed hash.
bool VerifyAnswer(std::string_view hash, std::string_view normalised);

// ---- Stores ----------------------------------------------------------------

class EnrolmentStore {
 public:
  virtual ~EnrolmentStore() = default;
  // The record, or nullopt when the account has none. A stored record that
  // does not decode is an error (kIo), never "not enrolled".
  virtual Result<std::optional<Enrolment>> Load(std::string_view account) = 0;
  // Replace the account's record atomically (all or nothing).
  virtual Status Save(std::string_view account, const Enrolment& e) = 0;
  // Remove the account's record; removing an absent record succeeds.
  virtual Status Remove(std::string_view account) = 0;
};

// One LMDB environment in `dir`: files enrolment.mdb and enrolment.mdb-lock.
// The directory is created 0700 if missing (its parent must exist) and
// refused if it is a symlink, not ours or open to group/other; the files
// are created 0600 and refused if symlinks, not regular, hard-linked or not
// private (kConfig). An existing file is first walked in a child process,
// so a corrupt file is an error naming it (kIo), not a crash of the helper.
// Keys are account names. Each Save/Remove is one write transaction. A full
// map or disk is kIo naming the file, with the previous record intact.
// Thread-safe (MDB_NOTLS); open a directory at most once per process.
class LmdbEnrolmentStore final : public EnrolmentStore {
 public:
  static inline constexpr std::size_t kDefaultMapSize = std::size_t{64} << 20;
  static Result<std::unique_ptr<LmdbEnrolmentStore>> Open(const std::string& dir,
                                                          std::size_t map_size = kDefaultMapSize);
  ~LmdbEnrolmentStore() override;
  LmdbEnrolmentStore(const LmdbEnrolmentStore&) = delete;
  LmdbEnrolmentStore& operator=(const LmdbEnrolmentStore&) = delete;

  Result<std::optional<Enrolment>> Load(std::string_view account) override;
  Status Save(std::string_view account, const Enrolment& e) override;
  Status Remove(std::string_view account) override;

  const std::string& file() const noexcept { return m_file; }

 private:
  LmdbEnrolmentStore(MDB_env* env, unsigned int dbi, std::string file);
  MDB_env* m_env;
  unsigned int m_dbi;
  std::string m_file;  // the data file, for error text
};

// The record in a confidential octet-string attribute of the user object
// (default ssprEnrolment), found with Client::FindUser and read/written with
// Client::ReadBinaryAttr/WriteBinaryAttr. The service account needs RP, WP
// and CR (control access: the attribute is confidential) on it. Caution: a
// service account without CR reads a confidential attribute as absent, so a
// missing grant looks like "not enrolled"; `sspr-admin check` must prove the
// grant. Errors are the client's (kDirNoSuchUser, kDirAccessDenied, ...).
class AdEnrolmentStore final : public EnrolmentStore {
 public:
  explicit AdEnrolmentStore(ad::Client& client, std::string attribute = "ssprEnrolment");

  Result<std::optional<Enrolment>> Load(std::string_view account) override;
  Status Save(std::string_view account, const Enrolment& e) override;
  Status Remove(std::string_view account) override;

 private:
  Result<std::string> UserDn(std::string_view account);
  ad::Client& m_client;
  std::string m_attr;
};

// Shared by the backends: 1..256 bytes, no NUL (kProtocol otherwise).
Status CheckAccountName(std::string_view account);

}  // namespace sspr::store

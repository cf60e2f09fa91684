// AdEnrolmentStore: the enrolment record in a confidential attribute of the
// user object (conf/schema/sspr-enrolment.ldif). The record's secrets are
// already protected (sealed seed, Argon2id hashes); the attribute is
// confidential (searchFlags 128) so that ordinary users cannot read even
// those, and only the helper's account holds RP/WP/CR on it.
//
// Each Save is one LDAP modify (replace of a single-valued attribute), which
// the DC applies atomically. The DN is looked up on every call: a renamed or
// moved user keeps its record, and no DN is cached across calls.
#include "sspr/ad/client.h"
#include "sspr/store/enrolment.h"

namespace sspr::store {

AdEnrolmentStore::AdEnrolmentStore(ad::Client& client, std::string attribute)
    : m_client(client), m_attr(std::move(attribute)) {}

Result<std::string> AdEnrolmentStore::UserDn(std::string_view account) {
  if (Status s = CheckAccountName(account); !s) return Fail(std::move(s).error());
  auto user = m_client.FindUser(account, {});
  if (!user) return Fail(std::move(user).error());
  return std::move(user->dn);
}

Result<std::optional<Enrolment>> AdEnrolmentStore::Load(std::string_view account) {
  auto dn = UserDn(account);
  if (!dn) return Fail(std::move(dn).error());
  auto raw = m_client.ReadBinaryAttr(*dn, m_attr);
  if (!raw) return Fail(std::move(raw).error());
  if (!raw->has_value()) return std::optional<Enrolment>();
  auto e = DecodeEnrolment(**raw);
  if (!e) return Fail(Errc::kIo, *dn + ": " + m_attr + " is corrupt: " + e.error().detail);
  return std::optional<Enrolment>(std::move(e.value()));
}

Status AdEnrolmentStore::Save(std::string_view account, const Enrolment& e) {
  auto bytes = EncodeEnrolment(e);
  if (!bytes) return Fail(std::move(bytes).error());
  auto dn = UserDn(account);
  if (!dn) return Fail(std::move(dn).error());
  return m_client.WriteBinaryAttr(*dn, m_attr, std::move(bytes.value()));
}

Status AdEnrolmentStore::Remove(std::string_view account) {
  auto dn = UserDn(account);
  if (!dn) return Fail(std::move(dn).error());
  return m_client.WriteBinaryAttr(*dn, m_attr, std::nullopt);
}

}  // namespace sspr::store

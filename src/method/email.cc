#include "sspr/method/email.h"

#include <curl/curl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <mutex>

#include "sspr/util/files.h"

namespace sspr::method {

namespace {

constexpr const char* kDot3 = "\xE2\x80\xA2\xE2\x80\xA2\xE2\x80\xA2";  // "•••"

void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool HeaderSafe(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; });
}

// Payload reader for CURLOPT_READFUNCTION.
struct Upload {
  const std::string* data;
  std::size_t offset = 0;
};

std::size_t ReadPayload(char* out, std::size_t size, std::size_t nmemb, void* user) {
  auto* up = static_cast<Upload*>(user);
  std::size_t room = size * nmemb;
  std::size_t left = up->data->size() - up->offset;
  std::size_t n = std::min(room, left);
  std::memcpy(out, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

bool IsLoopbackUrl(const std::string& url) {
  for (const char* host : {"smtp://127.", "smtp://localhost", "smtp://[::1]"})
    if (url.rfind(host, 0) == 0) return true;
  return false;
}

}  // namespace

bool IsUsableAddress(std::string_view addr) {
  if (addr.size() < 3 || addr.size() > 254) return false;
  auto at = addr.find('@');
  if (at == std::string_view::npos || at == 0 || addr.find('@', at + 1) != std::string_view::npos)
    return false;
  auto domain = addr.substr(at + 1);
  if (domain.size() < 3 || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
      domain.back() == '.')
    return false;
  for (unsigned char c : addr)
    if (c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == '"' || c == '\\' || c == ',' ||
        c == ';')
      return false;
  return true;
}

std::string MaskAddress(std::string_view addr) {
  auto at = addr.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= addr.size()) return kDot3;
  auto domain = addr.substr(at + 1);
  auto dot = domain.rfind('.');
  std::string tld = dot == std::string_view::npos ? std::string() : std::string(domain.substr(dot));
  std::string out;
  out += addr[0];
  out += kDot3;
  out += '@';
  out += domain[0];
  out += kDot3;
  out += tld;
  return out;
}

std::string FakeMaskedAddress(std::string_view account, const unsigned char key[32]) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(account.data()),
                         account.size(), key);
  static const char* const kTlds[] = {".com", ".org", ".net", ".com"};
  std::string out;
  out += static_cast<char>('a' + mac[0] % 26);
  out += kDot3;
  out += '@';
  out += static_cast<char>('a' + mac[1] % 26);
  out += kDot3;
  out += kTlds[mac[2] % 4];
  return out;
}

Result<Mailer> Mailer::Create(const config::EmailConfig& cfg) {
  CurlGlobalInit();
  Mailer m;
  m.m_cfg = cfg;
  if (cfg.smtp_tls == "none" && !IsLoopbackUrl(cfg.smtp_url))
    return Fail(Errc::kConfig, "[email] smtp_tls = none is allowed only for a loopback smtp_url");
  if (cfg.smtp_tls == "smtps" && cfg.smtp_url.rfind("smtps://", 0) != 0)
    return Fail(Errc::kConfig, "[email] smtp_tls = smtps needs an smtps:// smtp_url");
  if (!IsUsableAddress(cfg.from) && cfg.from.find('@') == std::string::npos)
    return Fail(Errc::kConfig, "[email] from: not an address: " + cfg.from);
  if (!HeaderSafe(cfg.subject) || !HeaderSafe(cfg.from))
    return Fail(Errc::kConfig, "[email] subject/from: control characters are not allowed");
  if (!cfg.smtp_password_file.empty()) {
    auto pw = ReadSecretFile(cfg.smtp_password_file, geteuid());
    if (!pw) return Fail(pw.error());
    m.m_password.assign(pw->view());
  }
  return m;
}

Mailer::~Mailer() {
  if (m_password.capacity() != 0) sodium_memzero(m_password.data(), m_password.capacity());
}

Status Mailer::Send(const std::string& to, const std::string& subject, Secret body) const {
  if (!IsUsableAddress(to)) return Fail(Errc::kNoDestination, "unusable destination address");
  if (!HeaderSafe(subject)) return Fail(Errc::kInternal, "subject has control characters");
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Fail(Errc::kSendFailed, "curl_easy_init failed");

  char date[64];
  std::time_t now = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string msg;
  msg.reserve(512 + body.size());
  msg += "Date: " + std::string(date) + "\r\n";
  msg += "From: " + m_cfg.from + "\r\n";
  msg += "To: " + to + "\r\n";
  msg += "Subject: " + subject + "\r\n";
  msg += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n";
  msg += "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n";
  msg.append(body.view());
  msg += "\r\n";

  Upload up{&msg};
  curl_slist* rcpt = curl_slist_append(nullptr, ("<" + to + ">").c_str());
  std::string from = "<" + m_cfg.from + ">";
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, m_cfg.smtp_url.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadPayload);
  curl_easy_setopt(curl, CURLOPT_READDATA, &up);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(m_cfg.timeout_s));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min(m_cfg.timeout_s, 10)));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if (m_cfg.smtp_tls == "starttls") curl_easy_setopt(curl, CURLOPT_USE_SSL, CURLUSESSL_ALL);
  if (m_cfg.smtp_tls != "none") {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!m_cfg.smtp_ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, m_cfg.smtp_ca_file.c_str());
  }
  if (!m_cfg.smtp_user.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, m_cfg.smtp_user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, m_password.c_str());
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(curl);
  sodium_memzero(msg.data(), msg.capacity());
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return Fail(Errc::kSendFailed, "SMTP " + m_cfg.smtp_url + ": " + why);
  }
  return {};
}

Status Mailer::Probe() const {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Fail(Errc::kSendFailed, "curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, m_cfg.smtp_url.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(m_cfg.timeout_s));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if (m_cfg.smtp_tls == "starttls") curl_easy_setopt(curl, CURLOPT_USE_SSL, CURLUSESSL_ALL);
  if (m_cfg.smtp_tls != "none") {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!m_cfg.smtp_ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, m_cfg.smtp_ca_file.c_str());
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK)
    return Fail(Errc::kSendFailed, "SMTP " + m_cfg.smtp_url + ": " +
                                       (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
  return {};
}

}  // namespace sspr::method

#include "server.h"

#include <pwd.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "sspr/wire/codec.h"

namespace sspr::helper {

namespace {

// The dialogue over one connection. Answers are read with a deadline that
// is the sooner of the per-answer and the per-flow limits.
class SocketDialogue : public flow::Dialogue {
 public:
  SocketDialogue(int fd, std::int64_t flow_deadline_ms, int answer_timeout_ms)
      : m_fd(fd), m_flow_deadline(flow_deadline_ms), m_answer_timeout(answer_timeout_ms) {}

 protected:
  Result<Secret> Exchange(wire::StepMsg step) override {
    if (m_closed) return Fail(Errc::kProtocol, "dialogue already closed");
    wire::Buffer frame = wire::Encode(step);
    std::int64_t send_deadline = wire::NowMs() + 10000;
    if (wire::SendFrame(m_fd, frame, send_deadline) != wire::IoStatus::kOk) {
      m_closed = true;
      return Fail(Errc::kCancelled, "client went away");
    }
    std::int64_t deadline = std::min(m_flow_deadline, wire::NowMs() + m_answer_timeout);
    wire::Buffer payload;
    wire::IoStatus io = wire::RecvFrame(m_fd, payload, deadline);
    if (io == wire::IoStatus::kTimeout) {
      m_closed = true;
      return Fail(Errc::kTimeout, "no answer in time");
    }
    if (io != wire::IoStatus::kOk) {
      m_closed = true;
      return Fail(Errc::kCancelled, std::string("client: ") + wire::IoStatusName(io));
    }
    // Permit table: only kAnswer while a step is outstanding.
    wire::AnswerMsg answer;
    const char* err = nullptr;
    if (!wire::Decode(payload.bytes(), answer, &err)) {
      m_closed = true;
      return Fail(Errc::kProtocol, std::string("bad answer: ") + (err ? err : "?"));
    }
    if (answer.flags & wire::kAnswerCancelled) return Fail(Errc::kCancelled, "conversation failed");
    return Secret::Take(answer.answer);
  }

  Status SendResult(wire::ResultMsg result) override {
    if (m_closed) return Fail(Errc::kProtocol, "dialogue already closed");
    m_closed = true;
    if (wire::SendFrame(m_fd, wire::Encode(result), wire::NowMs() + 10000) != wire::IoStatus::kOk)
      return Fail(Errc::kIo, "could not send result");
    return {};
  }

 private:
  int m_fd;
  std::int64_t m_flow_deadline;
  int m_answer_timeout;
  bool m_closed = false;
};

std::string UserNameOf(uid_t uid) {
  struct passwd pw {};
  struct passwd* out = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &out) != 0 || out == nullptr) return {};
  return out->pw_name;
}

std::string RandomHex(std::size_t bytes) {
  unsigned char raw[32];
  if (bytes > sizeof raw) bytes = sizeof raw;
  randombytes_buf(raw, bytes);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, raw, bytes);
  return hex;
}

}  // namespace

Status Server::Listen() {
  const std::string& path = m_svc.cfg->helper.socket_path;
  sockaddr_un addr {};
  if (path.size() >= sizeof addr.sun_path)
    return Fail(Errc::kConfig, "[helper] socket: path too long: " + path);
  // Create the parent directory if missing (e.g. /run/sspr), root-owned 0755.
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) mkdir(dir.c_str(), 0755);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Fail(Errc::kConfig, path + ": exists and is not a socket; refusing to replace it");
    unlink(path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Fail(Errc::kIo, std::string("socket: ") + std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  mode_t old = umask(0111);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0 || chmod(path.c_str(), 0666) != 0 || listen(fd, 64) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    return Fail(Errc::kIo, path + ": " + why);
  }
  m_listen_fd = fd;
  return {};
}

void Server::Serve(int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{m_listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    if (!(fds[0].revents & POLLIN)) continue;
    int c = accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) continue;
    {
      std::lock_guard<std::mutex> lock(m_mu);
      if (static_cast<int>(m_active.size()) >= m_svc.cfg->helper.max_clients) {
        m_svc.audit->Admin(LOG_WARNING, "too many clients; refusing a connection");
        close(c);
        continue;
      }
      m_active.insert(c);
    }
    try {
      std::thread([this, c] { Session(c); }).detach();
    } catch (...) {
      std::lock_guard<std::mutex> lock(m_mu);
      m_active.erase(c);
      close(c);
    }
  }
  // Shut down: no new clients, wake every session so it ends its flow.
  close(m_listen_fd);
  unlink(m_svc.cfg->helper.socket_path.c_str());
  std::unique_lock<std::mutex> lock(m_mu);
  for (int fd : m_active) shutdown(fd, SHUT_RDWR);
  m_cv.wait_for(lock, std::chrono::seconds(30), [this] { return m_active.empty(); });
}

void Server::Session(int fd) {
  try {
    ucred cred {};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      wire::Buffer payload;
      // The first frame must come soon: a silent client holds only this thread.
      wire::IoStatus io = wire::RecvFrame(fd, payload, wire::NowMs() + 15000);
      wire::StartMsg start;
      const char* err = nullptr;
      if (io != wire::IoStatus::kOk) {
        if (io != wire::IoStatus::kEof)
          m_svc.audit->Admin(LOG_NOTICE, std::string("client pid ") + std::to_string(cred.pid) +
                                             ": " + wire::IoStatusName(io));
      } else if (!wire::Decode(payload.bytes(), start, &err)) {
        m_svc.audit->Admin(LOG_WARNING, std::string("client pid ") + std::to_string(cred.pid) +
                                            ": protocol violation: " + (err ? err : "?"));
      } else {
        // Identity rule (unix_chkpwd's): root may act for a named account;
        // anyone else only for its own.
        std::string self = cred.uid == 0 ? std::string() : UserNameOf(cred.uid);
        std::string account = start.account;
        bool allowed = true;
        if (cred.uid != 0) {
          if (account.empty()) account = self;
          allowed = !self.empty() && account == self;
        }
        if (account.empty()) allowed = false;
        if (!allowed) {
          m_svc.audit->Event("request_refused",
                             {{"uid", std::to_string(cred.uid)},
                              {"account", start.account},
                              {"reason", "peer uid may act only for its own account"}});
          wire::ResultMsg r;
          r.outcome = wire::Outcome::kUnavailable;
          r.items.push_back({wire::Style::kError, 0,
                             static_cast<std::uint16_t>(wire::MsgId::kServiceUnavailable), {}});
          (void)wire::SendFrame(fd, wire::Encode(r), wire::NowMs() + 5000);
        } else if (start.flow == wire::Flow::kAdmin && cred.uid != 0) {
          m_svc.audit->Event("request_refused", {{"uid", std::to_string(cred.uid)},
                                                 {"account", start.account},
                                                 {"reason", "admin operations need root"}});
          wire::ResultMsg r;
          r.outcome = wire::Outcome::kUnavailable;
          (void)wire::SendFrame(fd, wire::Encode(r), wire::NowMs() + 5000);
        } else if (start.flow != wire::Flow::kReset && start.flow != wire::Flow::kChange &&
                   start.flow != wire::Flow::kEnrol && start.flow != wire::Flow::kAdmin) {
          wire::ResultMsg r;
          r.outcome = wire::Outcome::kUnavailable;
          r.items.push_back({wire::Style::kError, 0,
                             static_cast<std::uint16_t>(wire::MsgId::kServiceUnavailable), {}});
          (void)wire::SendFrame(fd, wire::Encode(r), wire::NowMs() + 5000);
        } else {
          flow::Caller caller;
          caller.uid = cred.uid;
          caller.account = account;
          caller.service = start.service;
          caller.tty = start.tty;
          caller.rhost = start.rhost;
          caller.flow_id = RandomHex(16);
          std::int64_t flow_deadline =
              wire::NowMs() + static_cast<std::int64_t>(m_svc.cfg->flow.flow_lifetime_s) * 1000 + 5000;
          SocketDialogue dlg(fd, flow_deadline, m_svc.cfg->helper.answer_timeout_s * 1000);
          if (start.flow == wire::Flow::kChange)
            flow::RunChange(m_svc, caller, dlg, (start.flags & wire::kStartFlagExpired) != 0);
          else if (start.flow == wire::Flow::kEnrol)
            flow::RunEnrol(m_svc, caller, dlg, (start.flags & wire::kStartFlagAtLogin) != 0);
          else if (start.flow == wire::Flow::kAdmin)
            flow::RunAdmin(m_svc, caller, dlg, start.flags);
          else
            flow::RunReset(m_svc, caller, dlg);
        }
      }
    }
  } catch (const std::exception& e) {
    m_svc.audit->Admin(LOG_ERR, std::string("session failed: ") + e.what());
  } catch (...) {
    m_svc.audit->Admin(LOG_ERR, "session failed");
  }
  std::lock_guard<std::mutex> lock(m_mu);
  m_active.erase(fd);
  close(fd);
  m_cv.notify_all();
}

}  // namespace sspr::helper

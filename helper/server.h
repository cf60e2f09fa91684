// ssprd's server: a UNIX socket, one thread per connection (a slow or silent
// client holds only its own thread, bounded by deadlines), identity bound
// from SO_PEERCRED, and the per-connection permit table of protocol.h.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>

#include "sspr/flow/reset.h"

namespace sspr::helper {

class Server {
 public:
  explicit Server(flow::Services services) : m_svc(std::move(services)) {}
  // Bind and listen on the configured socket path (mode 0666, the peer
  // uid is the authorisation). Replaces a stale socket, never another file.
  Status Listen();
  // Serve until `stop_fd` becomes readable (a signalfd for SIGTERM/SIGINT).
  // Then stop accepting, wake every session and wait for them (bounded).
  void Serve(int stop_fd);

 private:
  void Session(int fd);

  flow::Services m_svc;
  int m_listen_fd = -1;
  std::mutex m_mu;
  std::condition_variable m_cv;
  std::set<int> m_active;  // connection fds, for shutdown on exit
};

}  // namespace sspr::helper

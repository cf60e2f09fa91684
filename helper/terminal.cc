#include "terminal.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "sspr/wire/catalog.h"

namespace sspr::helper {

namespace {

bool ReadLine(std::string& out, bool echo) {
  struct termios saved {};
  bool restore = false;
  if (!echo && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  bool ok = static_cast<bool>(std::getline(std::cin, out));
  if (restore) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fputc('\n', stdout);
  }
  return ok;
}

}  // namespace

bool TerminalConverse(const std::vector<wire::Item>& items, std::string& answer) {
  using wire::Style;
  for (const auto& it : items) {
    std::string text = wire::Render(it.msg, it.params);
    switch (it.style) {
      case Style::kInfo:
        std::printf("%s\n", text.c_str());
        break;
      case Style::kError:
        std::fflush(stdout);
        std::fprintf(stderr, "%s\n", text.c_str());
        break;
      case Style::kPromptEchoOff:
      case Style::kPromptEchoOn:
        std::printf("%s", text.c_str());
        std::fflush(stdout);
        return ReadLine(answer, it.style == Style::kPromptEchoOn);
    }
  }
  std::fflush(stdout);
  return true;
}

}  // namespace sspr::helper

// Terminal side of a helper dialogue for the CLIs (sspr-enroll, sspr-admin):
// info to stdout, errors to stderr, prompts read from stdin (echo off for
// secrets when stdin is a terminal).
#pragma once

#include <string>
#include <vector>

#include "sspr/wire/codec.h"

namespace sspr::helper {

bool TerminalConverse(const std::vector<wire::Item>& items, std::string& answer);

}  // namespace sspr::helper

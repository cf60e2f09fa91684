// Opening files the helper trusts (SECURITY.md rule 12): no symlinks
// followed, never blocking on a FIFO, regular file only, expected owner, no
// group/other access where secrets are concerned, size capped.
#pragma once

#include <string>
#include <sys/types.h>

#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr {

// Read a secret file (bind password, SMTP password, keys): must be a
// regular file owned by `owner`, with no group/other permission bits, at
// most 4 KiB. One trailing newline is stripped. Errors name the file and
// say how to fix it.
Result<Secret> ReadSecretFile(const std::string& path, uid_t owner);

}  // namespace sspr

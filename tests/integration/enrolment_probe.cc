// enrolment_probe: drive sspr::store::AdEnrolmentStore (and the sealing
// helpers) from tests/integration/test_enrolment_ad.py against a real DC.
//
//   enrolment_probe --uri URI --ca FILE --bind-dn DN --bind-pw-file PATH
//                   --base-dn DN --key-file PATH [--attr NAME] COMMAND ...
//   COMMAND:  contract ACCOUNT OTHER   the shared store contract (absent, round
//                                      trip, overwrite, remove) as in test_enrolment.cc
//             save ACCOUNT SEED_FILE   save a sample record whose TOTP seed (read
//                                      from SEED_FILE) is sealed for ACCOUNT
//             open ACCOUNT SEED_FILE   load ACCOUNT's record, open its seed as
//                                      ACCOUNT and compare with SEED_FILE
//             open-as ACCOUNT AS       open ACCOUNT's sealed seed as account AS
//             copy FROM TO             copy FROM's stored record to TO unchanged
//             load ACCOUNT             print whether a record exists
//             remove ACCOUNT
//
// Secrets (bind password, seed) only come from files. Output: first line
// "ok" or "error <errc_name>" (+ key=value lines); admin detail on stderr.
// Exit 0 ok, 1 error, 2 usage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sspr/ad/client.h"
#include "sspr/store/enrolment.h"
#include "sspr/util/error.h"
#include "sspr/util/files.h"
#include "sspr/util/secret.h"

namespace {

using sspr::store::Enrolment;

int Usage() {
  std::fprintf(stderr,
               "usage: enrolment_probe --uri URI --ca FILE --bind-dn DN --bind-pw-file PATH --base-dn DN "
               "--key-file PATH [--attr NAME] contract A B|save A SEED|open A SEED|open-as A B|"
               "copy A B|load A|remove A\n");
  return 2;
}

int Report(const sspr::Error& e, const char* step) {
  std::printf("error %s\nstep=%s\n", std::string(sspr::ErrcName(e.code)).c_str(), step);
  std::fprintf(stderr, "%s: %s\n", step, e.detail.c_str());
  return 1;
}

int Failed(const char* what) {
  std::printf("error contract\nstep=%s\n", what);
  return 1;
}

const char* kHash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

Enrolment Sample(std::string sealed) {
  Enrolment e;
  e.registered_at = 1700000000;
  e.last_reconfirmed_at = 1710000000;
  e.skips_used = 1;
  sspr::store::TotpEnrolment t;
  t.sealed_seed = std::move(sealed);
  t.algorithm = sspr::store::TotpAlgorithm::kSha1;
  t.last_step = 56666666;
  t.confirmed_at = 1700000100;
  e.totp = std::move(t);
  e.questions.push_back({3, "", kHash, 1700000200});
  e.questions.push_back({0, "Name of your first teacher?", kHash, 1700000300});
  e.contacts.push_back({sspr::store::ContactKind::kMobile, "+15551234567", 1700000500});
  e.method_added_at["mobile"] = 1700000500;
  e.method_added_at["totp"] = 1700000100;
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  sspr::CryptoInit();
  sspr::ad::DirectoryConfig cfg;
  std::string bind_pw_file, key_file, attr = "ssprEnrolment";
  int i = 1;
  for (; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--uri") cfg.uris.push_back(argv[i + 1]);
    else if (a == "--ca") cfg.ca_file = argv[i + 1];
    else if (a == "--bind-dn") cfg.bind_dn = argv[i + 1];
    else if (a == "--bind-pw-file") bind_pw_file = argv[i + 1];
    else if (a == "--base-dn") cfg.base_dn = argv[i + 1];
    else if (a == "--key-file") key_file = argv[i + 1];
    else if (a == "--attr") attr = argv[i + 1];
    else break;
  }
  if (i >= argc || bind_pw_file.empty() || key_file.empty()) return Usage();
  const std::string cmd = argv[i++];
  const int nargs = argc - i;

  auto pw = sspr::ReadSecretFile(bind_pw_file, geteuid());
  if (!pw) return Report(pw.error(), "bind password");
  auto client = sspr::ad::Client::Create(cfg, std::move(pw.value()));
  if (!client) return Report(client.error(), "client");
  auto key = sspr::store::LoadOrCreateHelperKey(key_file);
  if (!key) return Report(key.error(), "key");
  sspr::store::AdEnrolmentStore store(*client.value(), attr);

  if (cmd == "contract" && nargs == 2) {
    const std::string account = argv[i], other = argv[i + 1];
    auto none = store.Load(account);
    if (!none) return Report(none.error(), "load absent");
    if (none->has_value()) return Failed("absent record loaded");
    auto sealed = sspr::store::SealSeed(*key, account, sspr::Secret("contract-seed-bytes!", 20));
    if (!sealed) return Report(sealed.error(), "seal");
    Enrolment e = Sample(*sealed);
    if (auto st = store.Save(account, e); !st) return Report(st.error(), "save");
    auto got = store.Load(account);
    if (!got) return Report(got.error(), "load");
    if (!got->has_value() || !(**got == e)) return Failed("round trip differs");
    auto o = store.Load(other);
    if (!o) return Report(o.error(), "load other");
    if (o->has_value()) return Failed("other account has a record");
    e.questions.pop_back();
    e.totp.reset();
    e.skips_used = 0;
    if (auto st = store.Save(account, e); !st) return Report(st.error(), "overwrite");
    got = store.Load(account);
    if (!got) return Report(got.error(), "load overwritten");
    if (!got->has_value() || !(**got == e)) return Failed("overwrite differs");
    if (auto st = store.Remove(account); !st) return Report(st.error(), "remove");
    if (auto st = store.Remove(account); !st) return Report(st.error(), "remove again");
    got = store.Load(account);
    if (!got) return Report(got.error(), "load removed");
    if (got->has_value()) return Failed("removed record still there");
    if (store.Save("", e).ok()) return Failed("empty account accepted");
    std::printf("ok\n");
    return 0;
  }
  if ((cmd == "save" || cmd == "open") && nargs == 2) {
    const std::string account = argv[i];
    auto seed = sspr::ReadSecretFile(argv[i + 1], geteuid());
    if (!seed) return Report(seed.error(), "seed file");
    if (cmd == "save") {
      auto sealed = sspr::store::SealSeed(*key, account, *seed);
      if (!sealed) return Report(sealed.error(), "seal");
      if (auto st = store.Save(account, Sample(*sealed)); !st) return Report(st.error(), "save");
      std::printf("ok\nsealed_bytes=%zu\n", sealed->size());
      return 0;
    }
    auto got = store.Load(account);
    if (!got) return Report(got.error(), "load");
    if (!got->has_value() || !(*got)->totp) return Failed("no record");
    auto opened = sspr::store::OpenSeed(*key, account, (*got)->totp->sealed_seed);
    if (!opened) return Report(opened.error(), "open");
    std::printf("ok\nsame=%d\n", opened->Equals(*seed) ? 1 : 0);
    return 0;
  }
  if (cmd == "open-as" && nargs == 2) {
    auto got = store.Load(argv[i]);
    if (!got) return Report(got.error(), "load");
    if (!got->has_value() || !(*got)->totp) return Failed("no record");
    auto opened = sspr::store::OpenSeed(*key, argv[i + 1], (*got)->totp->sealed_seed);
    if (!opened) return Report(opened.error(), "open");
    std::printf("ok\n");
    return 0;
  }
  if (cmd == "copy" && nargs == 2) {
    auto got = store.Load(argv[i]);
    if (!got) return Report(got.error(), "load");
    if (!got->has_value()) return Failed("no record");
    if (auto st = store.Save(argv[i + 1], **got); !st) return Report(st.error(), "save");
    std::printf("ok\n");
    return 0;
  }
  if (cmd == "load" && nargs == 1) {
    auto got = store.Load(argv[i]);
    if (!got) return Report(got.error(), "load");
    std::printf("ok\npresent=%d\n", got->has_value() ? 1 : 0);
    return 0;
  }
  if (cmd == "remove" && nargs == 1) {
    if (auto st = store.Remove(argv[i]); !st) return Report(st.error(), "remove");
    std::printf("ok\n");
    return 0;
  }
  return Usage();
}

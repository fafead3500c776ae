// The checkpoint-request flag: a handler for the checkpoint signal that only sets it.
#pragma once

#include "drover/checkpoint.hpp"

namespace drover::checkpoint::detail {

// The signal to use: `requested` if non-zero, else $DROVER_CHECKPOINT_SIGNAL, else SIGUSR1.
Result<int> resolve_signal(int requested);
// Installs the flag-setting handler for `signal` (SA_RESTART, so interrupted system calls
// resume). Installing it again is harmless.
Status install_handler(int signal);

}  // namespace drover::checkpoint::detail

// Idle reclamation in the server: the request protocol between the deciding
// side (the governor, poolgov.terminate_idle()) and the victim, the
// governor's reclaim step, and the victim's exit accounting. The policy
// (who is over which rule, the pressure victim order) is poolgov/reclaim.hpp.
#pragma once

namespace poolgov::pg {

// Called once this backend holds its connection slot: installs the SIGUSR2
// handler that takes reclaim requests and the exit callback that counts an
// accepted one.
void reclaim_backend_start();

// The governor's step: ends idle sessions over their rule. Holds no lock
// while it signals.
void governor_reclaim_idle();

}  // namespace poolgov::pg

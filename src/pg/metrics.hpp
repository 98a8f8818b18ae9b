// poolgov.metrics(): the Prometheus text exposition of what the views show,
// read through the read model (read_model.hpp) and formatted by the pure
// core (poolgov/prometheus.hpp).
#pragma once

namespace poolgov::pg {

extern int metrics_max_roles;  // poolgov.metrics_max_roles

void metrics_define_gucs();

}  // namespace poolgov::pg

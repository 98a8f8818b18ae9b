// poolgov.metrics(): the Prometheus text exposition of what the views show,
// read through the read model (read_model.hpp) and formatted by the pure
// core (poolgov/prometheus.hpp).
#pragma once

#include <cstddef>

namespace poolgov::pg {

// The exposition poolgov.metrics() returns and the governor's /metrics
// endpoint serves (one code path): read through the read model, role and
// database labels made valid in label_encoding. Returns a malloc'd buffer
// (the caller frees it) of *len bytes; raises an ERROR (palloc, or a C++
// failure once no C++ object is alive) like any PostgreSQL call.
char *metrics_exposition(size_t *len, int label_encoding);

}  // namespace poolgov::pg

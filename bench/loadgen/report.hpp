// The run's report: a human summary and the full JSON.
#pragma once

#include <string>
#include <vector>

#include "options.hpp"
#include "target_run.hpp"

namespace rtb::loadgen {

/// The summary printed to stdout (with a loud block when frames were lost,
/// duplicated or reordered, or calls failed).
std::string human_summary(const options& o, const std::vector<target_result>& results);

std::string json_report(const options& o, const std::vector<target_result>& results);

}  // namespace rtb::loadgen

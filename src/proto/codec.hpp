// JSON for the model, in AWS Batch's names (docs/API.md). One schema for every
// surface: the CLI's --json, the local API, the agent protocol and the store.
// Decoders never throw: bad input comes back as an error naming the field.
#pragma once

#include <nlohmann/json.hpp>

#include "core/job.hpp"
#include "core/job_definition.hpp"
#include "core/job_queue.hpp"
#include "core/job_request.hpp"
#include "core/node.hpp"
#include "core/result.hpp"

namespace drover::proto {

using Json = nlohmann::json;

Json to_json(const Resources& r);  // AWS resourceRequirements list
Json to_json(const RetryStrategy& r);
Json to_json(const KeyValues& kv);  // {"k": "v"}
Json to_env_json(const KeyValues& kv);  // [{"name": k, "value": v}]
Json to_json(const Attempt& a);
// {"jobId": "42" or "42_7", "type": "afterok", "minutes": 10 (after only)}
Json to_json(const Dependency& d);
Json to_json(const Job& j);
Json to_json(const JobPayload& p);
Json to_json(const JobDefinition& d);
Json to_json(const JobQueue& q);
Json to_json(const ComputeEnvironment& e);
Json to_json(const NodeTopology& t);
Json to_json(const Node& n);  // includes use: cpus used, memory, GPUs

Result<Resources> resources_from_json(const Json& j, Resources base = {});
Result<RetryStrategy> retry_from_json(const Json& j);
Result<KeyValues> key_values_from_json(const Json& j, const std::string& field);
// j[key] as [[first, last, step], ...] (step optional); empty when absent.
Result<std::vector<IndexRange>> index_ranges_from_json(const Json& j, const char* key);
Result<Job> job_from_json(const Json& j);
Result<JobPayload> payload_from_json(const Json& j);
Result<JobDefinition> definition_from_json(const Json& j);
Result<JobQueue> queue_from_json(const Json& j);
Result<ComputeEnvironment> environment_from_json(const Json& j);
Result<NodeTopology> topology_from_json(const Json& j);
Result<Node> node_from_json(const Json& j);
Result<JobRequest> job_request_from_json(const Json& j);
// j["dependsOn"] (absent or null: none) as in a JobRequest.
Result<std::vector<Dependency>> dependencies_from_json(const Json& j);

}  // namespace drover::proto

namespace drover::proto {
// Serialises JSON, replacing invalid UTF-8 (a job's environment or log may hold
// any bytes) instead of throwing.
inline std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
}  // namespace drover::proto

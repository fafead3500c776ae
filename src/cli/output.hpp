// Small helpers for what the CLI prints: aligned tables, times, errors.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/api_client.hpp"
#include "proto/codec.hpp"

namespace drover::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const;
  std::size_t size() const { return rows_.size() - 1; }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-21T09:01:02" in local time; "-" for 0.
std::string format_time(std::int64_t epoch_ms);
std::int64_t now_ms();
// Prints "drover <cmd>: <message>" on stderr and returns 1.
int fail(const std::string& cmd, const std::string& message);
// Connects to droverd or prints why not.
Result<ApiClient> connect(const std::string& socket);
// Reads a string field, "" if absent.
std::string str(const proto::Json& j, const char* key);
std::int64_t num(const proto::Json& j, const char* key);
// ReadLog sends output that is not UTF-8 as base64 (dataBase64).
std::string decode_base64(const std::string& text);
// The request arguments naming a job as the user wrote it: "42", an array task
// "42_7" (or AWS's "42:7"), or tasks by ranges "42_[1-5,9]" ({"jobId": "42",
// "arrayIndexes": [[1, 5, 1], [9, 9, 1]]}).
Result<proto::Json> job_ref_args(const std::string& text);

}  // namespace drover::cli

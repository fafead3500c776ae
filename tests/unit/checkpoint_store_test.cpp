// libdrover-checkpoint without MPI: write, commit, find and read back checkpoints with real
// HDF5 files; keep-last-K; damaged checkpoints skipped with a warning; bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>
#include <numeric>
#include <random>

#include "checkpoint_support.hpp"

namespace drover::checkpoint {
namespace {

using namespace testing;
using Json = nlohmann::json;

class CheckpointStore : public ::testing::Test {
 protected:
  void SetUp() override { clear_stop_request(); }

  // A store on dir_ that records its warnings.
  Store open(int keep_last = 2, Options o = {}) {
    if (o.directory.empty()) o.directory = dir_.path();
    o.keep_last = keep_last;
    o.on_warning = [this](const std::string& w) { warnings_.push_back(w); };
    auto s = Store::open(std::move(o));
    EXPECT_TRUE(s) << s.message();
    return std::move(*s);
  }

  // Commits a checkpoint of `step` with one float64 dataset "T" of shape [rows, 3], values
  // step * 1000 + index.
  void commit_step(Store& store, std::int64_t step, std::uint64_t rows = 4) {
    auto w = store.begin(step, step * 0.5);
    ASSERT_TRUE(w) << w.message();
    const Shape shape{rows, 3};
    std::vector<double> v(rows * 3);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = step * 1000.0 + i;
    ASSERT_TRUE(w->write_whole<double>("T", shape, v));
    auto c = w->commit();
    ASSERT_TRUE(c) << c.message();
  }

  std::string joined_warnings() const {
    std::string all;
    for (const auto& w : warnings_) all += w + "\n";
    return all;
  }

  std::string ckpt_path(std::int64_t step) const {
    char name[32];
    std::snprintf(name, sizeof name, "ckpt-%012lld", static_cast<long long>(step));
    return dir_ / name;
  }

  TempDir dir_;
  std::vector<std::string> warnings_;
};

TEST_F(CheckpointStore, EveryTypeRoundTripsWithAttributesAndManifest) {
  std::mt19937_64 rng(42);
  const Shape s2{5, 7}, s1{11}, s3{2, 3, 4};
  std::vector<double> f64(35);
  std::vector<float> f32(11);
  std::vector<std::int32_t> i32(24);
  std::vector<std::int64_t> i64(11);
  std::vector<std::uint8_t> u8(35);
  for (auto& x : f64) x = std::uniform_real_distribution<double>(-1e300, 1e300)(rng);
  for (auto& x : f32) x = std::uniform_real_distribution<float>(-1e30f, 1e30f)(rng);
  for (auto& x : i32) x = static_cast<std::int32_t>(rng());
  for (auto& x : i64) x = static_cast<std::int64_t>(rng());
  for (auto& x : u8) x = static_cast<std::uint8_t>(rng());
  f64[3] = -0.0;
  f64[4] = std::numeric_limits<double>::quiet_NaN();
  {
    Store store = open();
    auto w = store.begin(42, 1.5);
    ASSERT_TRUE(w) << w.message();
    ASSERT_TRUE(w->write_whole<double>("T", s2, f64));
    ASSERT_TRUE(w->write_whole<float>("f32", s1, f32));
    ASSERT_TRUE(w->write_whole<std::int32_t>("cells", s3, i32));
    ASSERT_TRUE(w->write_whole<std::int64_t>("ids", s1, i64));
    ASSERT_TRUE(w->write_whole<std::uint8_t>("mask", s2, u8));
    ASSERT_TRUE(w->set_attribute("solver", "heat2d ü"));
    ASSERT_TRUE(w->set_attribute("nx", 512));
    ASSERT_TRUE(w->set_attribute("dt", 0.25));
    auto c = w->commit();
    ASSERT_TRUE(c) << c.message();
    EXPECT_EQ(c->step, 42);
    EXPECT_EQ(c->path, ckpt_path(42));
  }
  EXPECT_EQ(entries(dir_.path()), std::vector<std::string>{"ckpt-000000000042"});
  EXPECT_EQ(entries(ckpt_path(42)), (std::vector<std::string>{"data.h5", "manifest.json"}));

  // The manifest: fixed names, sizes and a CRC32C anyone can recompute.
  const Json m = Json::parse(slurp(ckpt_path(42) + "/manifest.json"));
  const std::string data = slurp(ckpt_path(42) + "/data.h5");
  EXPECT_EQ(m["format"], "drover-checkpoint");
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["step"], 42);
  EXPECT_EQ(m["time"], 1.5);
  EXPECT_GT(m["createdAt"].get<std::int64_t>(), 1'600'000'000'000);
  EXPECT_EQ(m["ranks"], 1);
  EXPECT_EQ(m["bytes"], data.size());
  ASSERT_EQ(m["files"].size(), 1u);
  EXPECT_EQ(m["files"][0]["name"], "data.h5");
  EXPECT_EQ(m["files"][0]["bytes"], data.size());
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", reference_crc32c(data));
  EXPECT_EQ(m["files"][0]["crc32c"], hex);
  const Json expected_datasets = Json::parse(R"([
    {"name":"T","type":"float64","shape":[5,7]}, {"name":"f32","type":"float32","shape":[11]},
    {"name":"cells","type":"int32","shape":[2,3,4]}, {"name":"ids","type":"int64","shape":[11]},
    {"name":"mask","type":"uint8","shape":[5,7]}])");
  EXPECT_EQ(m["datasets"], expected_datasets);

  // A new store (a new attempt) finds it and reads everything back, bit for bit.
  Store store = open();
  auto r = store.restart();
  ASSERT_TRUE(r) << r.message();
  ASSERT_TRUE(r->has_value());
  Reader& in = **r;
  EXPECT_EQ(in.step(), 42);
  EXPECT_EQ(in.time(), 1.5);
  EXPECT_EQ(in.summary().ranks, 1);
  auto got64 = read_all<double>(in, "T");
  ASSERT_EQ(got64.size(), f64.size());
  EXPECT_EQ(std::memcmp(got64.data(), f64.data(), f64.size() * 8), 0);
  EXPECT_EQ(read_all<float>(in, "f32"), f32);
  EXPECT_EQ(read_all<std::int32_t>(in, "cells"), i32);
  EXPECT_EQ(read_all<std::int64_t>(in, "ids"), i64);
  EXPECT_EQ(read_all<std::uint8_t>(in, "mask"), u8);
  EXPECT_EQ(*in.string_attribute("solver"), "heat2d ü");
  EXPECT_EQ(*in.int_attribute("nx"), 512);
  EXPECT_EQ(*in.double_attribute("dt"), 0.25);
  auto missing = in.int_attribute("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_NE(missing.message().find("'nope'"), std::string::npos) << missing.message();
  EXPECT_TRUE(warnings_.empty()) << joined_warnings();
}

TEST_F(CheckpointStore, ReadsSlabsOtherThanTheOnesWritten) {
  Store store = open();
  auto w = store.begin(1, 0);
  ASSERT_TRUE(w);
  const Shape global{6, 4};
  std::vector<std::int32_t> all(24);
  std::iota(all.begin(), all.end(), 0);
  ASSERT_TRUE(w->write_whole<std::int32_t>("A", global, all));
  ASSERT_TRUE(w->commit());

  auto r = store.restart();
  ASSERT_TRUE(r && *r);
  std::vector<std::int32_t> window(6);
  ASSERT_TRUE((*r)->read<std::int32_t>("A", global, Shape{2, 1}, Shape{3, 2}, window));
  EXPECT_EQ(window, (std::vector<std::int32_t>{9, 10, 13, 14, 17, 18}));
  std::vector<std::int32_t> column(6);
  ASSERT_TRUE((*r)->read<std::int32_t>("A", {}, Shape{0, 3}, Shape{6, 1}, column));
  EXPECT_EQ(column, (std::vector<std::int32_t>{3, 7, 11, 15, 19, 23}));
  std::vector<std::int32_t> none;
  EXPECT_TRUE((*r)->read<std::int32_t>("A", global, Shape{6, 0}, Shape{0, 4}, none));
  std::vector<std::int32_t> eight(8);
  auto outside = (*r)->read<std::int32_t>("A", global, Shape{5, 0}, Shape{2, 4}, eight);
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.message().find("outside the shape [6,4]"), std::string::npos) << outside.message();
}

TEST_F(CheckpointStore, KeepsTheLastKAndRemovesOlderOnlyAfterCommit) {
  Store store = open(2);
  for (int step = 1; step <= 5; ++step) commit_step(store, step);
  EXPECT_EQ(entries(dir_.path()), (std::vector<std::string>{"ckpt-000000000004", "ckpt-000000000005"}));
  Store three = open(3);
  for (int step = 6; step <= 8; ++step) commit_step(three, step);
  EXPECT_EQ(entries(dir_.path()),
            (std::vector<std::string>{"ckpt-000000000006", "ckpt-000000000007", "ckpt-000000000008"}));
  auto listed = three.list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].step, 6);
  EXPECT_EQ((*listed)[2].step, 8);
  EXPECT_EQ((*listed)[2].time, 4.0);
}

TEST_F(CheckpointStore, AfterRestartingFromAnOlderOneNewerOnesAreRemovedAtTheNextCommit) {
  Store store = open(2);
  commit_step(store, 10);
  commit_step(store, 20);
  // A job that resumed from 10 (say 20 was damaged) and reached 15.
  commit_step(store, 15);
  EXPECT_EQ(entries(dir_.path()), (std::vector<std::string>{"ckpt-000000000010", "ckpt-000000000015"}));
  auto l = open().latest();
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->step, 15);
}

TEST_F(CheckpointStore, CommittingAStepAgainReplacesIt) {
  Store store = open(2);
  commit_step(store, 7, 4);
  commit_step(store, 7, 9);
  EXPECT_EQ(entries(dir_.path()), std::vector<std::string>{"ckpt-000000000007"});
  auto r = open().restart();
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->dataset("T")->shape, (Shape{9, 3}));
}

TEST_F(CheckpointStore, NoCheckpointYet) {
  Store store = open();
  auto l = store.latest();
  ASSERT_TRUE(l) << l.message();
  EXPECT_FALSE(l->has_value());
  auto r = store.restart();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  ScopedEnv no_restart("DROVER_RESTART", std::nullopt);
  EXPECT_FALSE(*store.is_restart());
}

// ---- damaged checkpoints: skipped, with a warning naming them and the reason ----

class DamagedCheckpoint : public CheckpointStore {
 protected:
  void SetUp() override {
    CheckpointStore::SetUp();
    Store store = open(3);
    commit_step(store, 1);
    commit_step(store, 2);
  }
  // The restart must take step 1 and say why step 2 was skipped.
  void expect_fallback(const std::string& why) {
    warnings_.clear();
    Store store = open(3);
    auto r = store.restart();
    ASSERT_TRUE(r) << r.message();
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->step(), 1);
    EXPECT_EQ(read_all<double>(**r, "T")[5], 1005.0);
    const std::string all = joined_warnings();
    EXPECT_NE(all.find("skipped checkpoint " + ckpt_path(2)), std::string::npos) << all;
    EXPECT_NE(all.find(why), std::string::npos) << all;
    EXPECT_NE(all.find("restarting from " + ckpt_path(1)), std::string::npos) << all;
  }
};

TEST_F(DamagedCheckpoint, FlippedBytesFailTheChecksum) {
  const std::string path = ckpt_path(2) + "/data.h5";
  std::string data = slurp(path);
  data[data.size() / 2] ^= 0x5A;
  data[data.size() / 2 + 1] ^= 0x01;
  spit(path, data);
  expect_fallback("data.h5: checksum mismatch: manifest says crc32c ");
}

TEST_F(DamagedCheckpoint, TruncatedFileFailsTheSize) {
  const std::string path = ckpt_path(2) + "/data.h5";
  fs::resize_file(path, fs::file_size(path) / 2);
  expect_fallback("data.h5: size mismatch: manifest says ");
}

TEST_F(DamagedCheckpoint, MissingManifest) {
  fs::remove(ckpt_path(2) + "/manifest.json");
  expect_fallback("manifest.json is missing");
}

TEST_F(DamagedCheckpoint, GarbledManifest) {
  spit(ckpt_path(2) + "/manifest.json", "{\"format\": \"drover-checkpoint\", \"version\": 1, \"step\": 2, \"fil");
  expect_fallback("manifest.json: not valid JSON");
}

TEST_F(DamagedCheckpoint, ManifestOfAnotherFormat) {
  Json m = Json::parse(slurp(ckpt_path(2) + "/manifest.json"));
  m["format"] = 7;
  spit(ckpt_path(2) + "/manifest.json", m.dump());
  expect_fallback("\"format\" is not \"drover-checkpoint\"");
}

TEST_F(DamagedCheckpoint, MissingDataFile) {
  fs::remove(ckpt_path(2) + "/data.h5");
  expect_fallback("data.h5: missing");
}

TEST_F(DamagedCheckpoint, SizesOnlyDoesNotReadTheData) {
  // verify_checksums = false trusts sizes: flipped bytes go unnoticed, truncation does not.
  const std::string path = ckpt_path(2) + "/data.h5";
  std::string data = slurp(path);
  data[data.size() - 1] ^= 0x01;
  spit(path, data);
  Options o;
  o.verify_checksums = false;
  auto l = open(3, o).latest();
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->step, 2);
  fs::resize_file(path, data.size() - 1);
  o.verify_checksums = false;
  l = open(3, o).latest();
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->step, 1);
}

TEST_F(DamagedCheckpoint, AllDamagedMeansNoCheckpoint) {
  fs::remove(ckpt_path(1) + "/manifest.json");
  fs::remove(ckpt_path(2) + "/manifest.json");
  Store store = open(3);
  auto l = store.latest();
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->has_value());
  EXPECT_NE(joined_warnings().find("no valid checkpoint in " + dir_.path()), std::string::npos) << joined_warnings();
}

// ---- interrupted checkpoints ----

TEST_F(CheckpointStore, LeftoverTemporaryDirectoriesAreIgnoredAndRemoved) {
  {
    Store store = open();
    commit_step(store, 3);
  }
  const std::string leftover = dir_ / ".tmp-ckpt-000000000004-host-1-deadbeef";
  fs::create_directory(leftover);
  spit(leftover + "/data.h5", "half a file");
  spit(leftover + "/manifest.json", R"({"format":"drover-checkpoint","version":1,"step":4})");
  Options keep;
  keep.remove_leftovers = false;
  auto l = open(2, keep).latest();
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->step, 3);
  EXPECT_TRUE(fs::exists(leftover));
  EXPECT_TRUE(warnings_.empty()) << joined_warnings();

  Store store = open();  // removes it
  EXPECT_FALSE(fs::exists(leftover));
  EXPECT_NE(joined_warnings().find("removed " + leftover + ", left by an interrupted checkpoint"), std::string::npos)
      << joined_warnings();
  l = store.latest();
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->step, 3);
}

TEST_F(CheckpointStore, AProcessKilledMidCheckpointLeavesThePreviousOne) {
  {
    Store store = open();
    commit_step(store, 1);
  }
  // The child writes a big dataset and dies before committing, as a job killed by SIGKILL
  // in the middle of a checkpoint would.
  auto child = run_child([&](int fd) {
    Options o;
    o.directory = dir_.path();
    auto s = Store::open(o);
    if (!s) return 2;
    auto w = s->begin(2, 1.0);
    if (!w) return 3;
    std::vector<double> v(1 << 16, 1.0);
    if (!w->write_whole<double>("T", Shape{v.size()}, v)) return 4;
    say(fd, "written");
    ::raise(SIGKILL);
    return 5;
  });
  EXPECT_EQ(child.status, 128 + SIGKILL);
  EXPECT_EQ(child.output, "written\n");
  bool has_tmp = false;
  for (const auto& e : entries(dir_.path())) has_tmp |= e.rfind(".tmp-ckpt-000000000002-", 0) == 0;
  EXPECT_TRUE(has_tmp) << ::testing::PrintToString(entries(dir_.path()));

  auto r = open().restart();
  ASSERT_TRUE(r && *r) << (r ? "" : r.message());
  EXPECT_EQ((*r)->step(), 1);
  EXPECT_EQ(entries(dir_.path()), std::vector<std::string>{"ckpt-000000000001"});
}

TEST_F(CheckpointStore, AbortedAndUncommittedCheckpointsLeaveNothing) {
  Store store = open();
  commit_step(store, 1);
  {
    auto w = store.begin(2, 1.0);
    ASSERT_TRUE(w);
    std::vector<double> v(10, 1.0);
    ASSERT_TRUE(w->write_whole<double>("T", Shape{10}, v));
    // destroyed without commit
  }
  auto w = store.begin(3, 1.0);
  ASSERT_TRUE(w) << w.message();
  w->abort();
  EXPECT_EQ(entries(dir_.path()), std::vector<std::string>{"ckpt-000000000001"});
  auto again = w->commit();
  ASSERT_FALSE(again);
  EXPECT_NE(again.message().find("already committed or abandoned"), std::string::npos);
}

// ---- bad input ----

TEST_F(CheckpointStore, NoDirectoryIsAClearError) {
  ScopedEnv unset("DROVER_CHECKPOINT_DIR", std::nullopt);
  auto s = Store::open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(s.message().find("open checkpoint store: no directory"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("DROVER_CHECKPOINT_DIR"), std::string::npos) << s.message();
}

TEST_F(CheckpointStore, DirectoryComesFromTheEnvironmentAndIsCreated) {
  const std::string where = dir_ / "job-17/checkpoints";
  ScopedEnv env("DROVER_CHECKPOINT_DIR", where);
  auto s = Store::open();
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(s->directory(), where);
  EXPECT_TRUE(fs::is_directory(where));
  Options explicit_dir;
  explicit_dir.directory = dir_ / "mine";
  auto t = Store::open(explicit_dir);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->directory(), dir_ / "mine");  // an explicit directory wins over the variable
}

TEST_F(CheckpointStore, DirectoryUnderARegularFileIsAClearError) {
  // Root may write anywhere, so "unwritable" is made with a path that cannot be a directory.
  spit(dir_ / "file", "x");
  Options o;
  o.directory = dir_ / "file/checkpoints";
  auto s = Store::open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::io);
  EXPECT_NE(s.message().find("open checkpoint store: cannot create directory " + (dir_ / "file/checkpoints")),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("Not a directory"), std::string::npos) << s.message();
}

TEST_F(CheckpointStore, BadKeepLastAndSteps) {
  Options o;
  o.directory = dir_.path();
  o.keep_last = 0;
  auto s = Store::open(o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("keep_last is 0, it must be at least 1"), std::string::npos) << s.message();

  Store store = open();
  auto neg = store.begin(-1, 0);
  ASSERT_FALSE(neg);
  EXPECT_NE(neg.message().find("checkpoint -1: step must be 0 to 999999999999"), std::string::npos) << neg.message();
  auto nan = store.begin(1, std::nan(""));
  ASSERT_FALSE(nan);
  EXPECT_NE(nan.message().find("time is not a finite number"), std::string::npos) << nan.message();
  auto w = store.begin(1, 0);
  ASSERT_TRUE(w);
  auto twice = store.begin(2, 0);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.message().find("checkpoint already being written"), std::string::npos) << twice.message();
}

TEST_F(CheckpointStore, AFailedWriteMeansTheCheckpointIsNotCommitted) {
  Store store = open();
  commit_step(store, 1);
  auto w = store.begin(2, 1.0);
  ASSERT_TRUE(w);
  std::vector<double> v(8, 2.0);
  ASSERT_TRUE(w->write_whole<double>("ok", Shape{8}, v));
  auto outside = w->write<double>("T", Shape{8}, Shape{4}, Shape{8}, v);
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.message(),
            "checkpoint 2: write of dataset 'T' failed: slab offset [4] count [8] is outside the global shape [8]");
  auto later = w->write_whole<double>("U", Shape{8}, v);
  ASSERT_FALSE(later);  // the checkpoint stays failed
  auto c = w->commit();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.message(),
            "checkpoint 2: not committed: write of dataset 'T' failed: slab offset [4] count [8] is outside the "
            "global shape [8]");
  EXPECT_EQ(entries(dir_.path()), std::vector<std::string>{"ckpt-000000000001"});
  auto l = store.latest();
  ASSERT_TRUE(l && *l);
  EXPECT_EQ((*l)->step, 1);
}

TEST_F(CheckpointStore, WriteArgumentErrorsNameTheDataset) {
  Store store = open();
  std::vector<double> v(4, 1.0);
  auto expect_refused = [&](auto&& call, const std::string& text) {
    auto w = store.begin(1, 0);
    ASSERT_TRUE(w);
    Status s = call(*w);
    ASSERT_FALSE(s);
    EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
  };
  expect_refused([&](Writer& w) { return w.write_whole<double>("", Shape{4}, v); }, "dataset name is empty");
  expect_refused([&](Writer& w) { return w.write_whole<double>("a/b", Shape{4}, v); }, "may not contain '/'");
  expect_refused([&](Writer& w) { return w.write_whole<double>("T", Shape{5}, v); },
                 "write of dataset 'T' failed: the buffer has 4 elements, the slab 5");
  expect_refused([&](Writer& w) { return w.write_whole<double>("T", Shape{}, std::vector<double>{1.0}); },
                 "an array has 1 to 32 dimensions");
  expect_refused(
      [&](Writer& w) {
        (void)w.write_whole<double>("T", Shape{4}, v);
        return w.write_whole<double>("T", Shape{4}, v);
      },
      "write of dataset 'T' failed: already written in this checkpoint");
  EXPECT_TRUE(entries(dir_.path()).empty()) << ::testing::PrintToString(entries(dir_.path()));
}

TEST_F(CheckpointStore, ShapeAndTypeMismatchesOnRestartNameBoth) {
  Store store = open();
  commit_step(store, 1, 4);  // T: float64 [4,3]
  auto r = open().restart();
  ASSERT_TRUE(r && *r);
  std::vector<double> buf(64);
  auto shape = (*r)->read<double>("T", Shape{8, 8}, Shape{0, 0}, Shape{8, 8}, buf);
  ASSERT_FALSE(shape);
  EXPECT_EQ(shape.error().code, ErrorCode::mismatch);
  EXPECT_EQ(shape.message(),
            "checkpoint 1: read of dataset 'T' failed: shape mismatch: the checkpoint has [4,3], the caller expects "
            "[8,8]");
  std::vector<float> f(12);
  auto type = (*r)->read_whole<float>("T", Shape{4, 3}, f);
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().code, ErrorCode::mismatch);
  EXPECT_EQ(type.message(),
            "checkpoint 1: read of dataset 'T' failed: type mismatch: the checkpoint has float64, the caller reads "
            "float32");
  auto whole = (*r)->read_whole<double>("T", Shape{2, 6}, std::span<double>(buf.data(), 12));
  ASSERT_FALSE(whole);
  EXPECT_NE(whole.message().find("the checkpoint has [4,3], the caller expects [2,6]"), std::string::npos)
      << whole.message();
  auto missing = (*r)->read_whole<double>("U", {}, std::span<double>(buf.data(), 12));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_NE(missing.message().find("dataset 'U'"), std::string::npos) << missing.message();
  auto info = (*r)->dataset("U");
  ASSERT_FALSE(info);
  EXPECT_NE(info.message().find("it has T"), std::string::npos) << info.message();
}

// ---- the job contract ----

TEST_F(CheckpointStore, SignalSetsTheStopFlag) {
  ScopedEnv env("DROVER_CHECKPOINT_SIGNAL", std::nullopt);
  Store store = open();
  EXPECT_EQ(store.signal_number(), SIGUSR1);
  EXPECT_FALSE(*store.stop_requested());
  ASSERT_EQ(::raise(SIGUSR1), 0);  // would kill the process without the handler
  EXPECT_TRUE(stop_requested_locally());
  EXPECT_TRUE(*store.stop_requested());
  clear_stop_request();
  EXPECT_FALSE(*store.stop_requested());
}

TEST_F(CheckpointStore, SignalComesFromTheEnvironment) {
  for (const char* spelling : {"USR2", "SIGUSR2", "usr2", "12", "USR2@60"}) {
    ScopedEnv env("DROVER_CHECKPOINT_SIGNAL", spelling);
    clear_stop_request();
    Store store = open();
    EXPECT_EQ(store.signal_number(), SIGUSR2) << spelling;
    ASSERT_EQ(::raise(SIGUSR2), 0);
    EXPECT_TRUE(*store.stop_requested()) << spelling;
  }
  ScopedEnv bad("DROVER_CHECKPOINT_SIGNAL", "USR3");
  Options o;
  o.directory = dir_.path();
  auto s = Store::open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "open checkpoint store: DROVER_CHECKPOINT_SIGNAL: signal 'USR3': not a signal name or number");
}

TEST_F(CheckpointStore, SignalDuringACheckpointDoesNotDisturbIt) {
  Store store = open();
  auto w = store.begin(1, 0);
  ASSERT_TRUE(w);
  std::vector<double> v(1000, 3.0);
  ASSERT_TRUE(w->write_whole<double>("a", Shape{1000}, v));
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(w->write_whole<double>("b", Shape{1000}, v));
  auto c = w->commit();
  ASSERT_TRUE(c) << c.message();
  EXPECT_TRUE(*store.stop_requested());  // the job checkpoints (done) and exits with 75
  EXPECT_EQ(kExitRequeue, 75);
}

TEST_F(CheckpointStore, HandlerCanBeLeftToTheApplication) {
  ScopedEnv env("DROVER_CHECKPOINT_SIGNAL", "SIGRTMIN+3");
  struct sigaction before {};
  ::sigaction(SIGRTMIN + 3, nullptr, &before);
  Options o;
  o.install_signal_handler = false;
  Store store = open(2, o);
  EXPECT_EQ(store.signal_number(), SIGRTMIN + 3);
  struct sigaction after {};
  ::sigaction(SIGRTMIN + 3, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  request_stop();  // the application's own handler would do this
  EXPECT_TRUE(*store.stop_requested());
}

TEST(CheckpointSignal, Names) {
  EXPECT_EQ(*parse_signal("USR1"), SIGUSR1);
  EXPECT_EQ(*parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(*parse_signal("sigusr2"), SIGUSR2);
  EXPECT_EQ(*parse_signal("10"), 10);
  EXPECT_EQ(*parse_signal("B:USR1@120"), SIGUSR1);
  EXPECT_EQ(*parse_signal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(*parse_signal("SIGRTMAX-1"), SIGRTMAX - 1);
  EXPECT_FALSE(parse_signal(""));
  EXPECT_FALSE(parse_signal("0"));
  EXPECT_FALSE(parse_signal("99999"));
  auto kill = parse_signal("KILL");
  ASSERT_FALSE(kill);
  EXPECT_EQ(kill.message(), "signal 'KILL': not a signal name or number");
  auto nine = parse_signal("9");
  ASSERT_FALSE(nine);
  EXPECT_EQ(nine.message(), "signal '9': it cannot be caught");
}

TEST(CheckpointContract, AttemptAndRestartFromTheEnvironment) {
  {
    ScopedEnv a("DROVER_ATTEMPT", std::nullopt);
    EXPECT_EQ(attempt(), 1);
  }
  {
    ScopedEnv a("DROVER_ATTEMPT", "3");
    EXPECT_EQ(attempt(), 3);
    EXPECT_EQ(drover_ckpt_attempt(), 3);
  }
  {
    ScopedEnv a("DROVER_ATTEMPT", "x");
    EXPECT_EQ(attempt(), 1);
  }
  TempDir dir;
  Options o;
  o.directory = dir.path();
  o.install_signal_handler = false;
  auto store = Store::open(o);
  ASSERT_TRUE(store);
  {
    ScopedEnv r("DROVER_RESTART", "1");
    EXPECT_TRUE(restart_requested_by_drover());
    EXPECT_TRUE(*store->is_restart());  // Drover says so, even with no checkpoint
  }
  ScopedEnv r("DROVER_RESTART", std::nullopt);
  EXPECT_FALSE(*store->is_restart());
  auto w = store->begin(0, 0);
  std::vector<std::uint8_t> b{1};
  ASSERT_TRUE(w->write_whole<std::uint8_t>("b", Shape{1}, b));
  ASSERT_TRUE(w->commit());
  EXPECT_TRUE(*store->is_restart());  // a valid checkpoint exists
}

}  // namespace
}  // namespace drover::checkpoint

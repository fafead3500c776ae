// Several users on one cluster: jobs run as the user who submitted them, and
// other users can neither cancel them nor read their output; root can.
#include "cluster.hpp"

namespace drover::it {
namespace {

class MultiUserTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create users and run jobs as them";
    ClusterTest::SetUp();
  }
};

TEST_F(MultiUserTest, JobRunsAsOwnerAndOnlyOwnerOrRootMayTouchIt) {
  auto alice = cluster().create_user("a");
  auto bob = cluster().create_user("b");
  ASSERT_TRUE(alice && bob);
  CliOptions as_alice;
  as_alice.as = &*alice;
  as_alice.cwd = cluster().make_user_dir(*alice, "alice");
  CliOptions as_bob;
  as_bob.as = &*bob;
  as_bob.cwd = cluster().make_user_dir(*bob, "bob");

  const std::string id = cluster().submit(
      {"--wrap", "id -u; id -g; echo \"user=$USER\"; echo secret-of-alice; sleep 30"}, as_alice);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  const std::string out_path = as_alice.cwd + "/drover-" + id + ".out";
  ASSERT_TRUE(wait_until([&] { return contains(read_file(out_path), "secret-of-alice"); }, 5000))
      << read_file(out_path) << cluster().logs();

  // It ran as alice, with her group, and wrote its output file as her.
  EXPECT_EQ(read_file(out_path), std::to_string(alice->uid) + "\n" + std::to_string(alice->gid) +
                                     "\nuser=" + alice->name + "\nsecret-of-alice\n");
  struct stat st {};
  ASSERT_EQ(::stat(out_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, alice->uid);

  // `drover show --json` names her as the owner.
  const CliResult show = cluster().run_cli({"show", "--json", id}, as_bob);
  ASSERT_EQ(show.code, 0) << show.describe();
  const Json j = Json::parse(show.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1) << show.out;
  EXPECT_EQ(j[0]["owner"].value("uid", -1), static_cast<int>(alice->uid)) << j.dump(2);
  EXPECT_EQ(j[0]["owner"].value("user", ""), alice->name) << j.dump(2);

  // Bob may neither cancel it nor read its output.
  const CliResult cancel = cluster().run_cli({"cancel", id}, as_bob);
  EXPECT_NE(cancel.code, 0) << cancel.describe();
  EXPECT_TRUE(contains(cancel.err, "cannot cancel job " + id)) << cancel.describe();
  EXPECT_TRUE(contains(cancel.err, alice->name)) << cancel.describe();
  const CliResult logs = cluster().run_cli({"logs", id}, as_bob);
  EXPECT_NE(logs.code, 0) << logs.describe();
  EXPECT_FALSE(contains(logs.out, "secret-of-alice")) << logs.describe();
  EXPECT_TRUE(contains(logs.err, "cannot read the logs of job " + id)) << logs.describe();
  EXPECT_EQ(cluster().state(id), "RUNNING");

  // Alice and root may read it.
  const CliResult own = cluster().run_cli({"logs", id}, as_alice);
  EXPECT_EQ(own.code, 0) << own.describe();
  EXPECT_TRUE(contains(own.out, "secret-of-alice")) << own.describe();
  const CliResult root_logs = cluster().cli("logs", id);
  EXPECT_EQ(root_logs.code, 0) << root_logs.describe();
  EXPECT_TRUE(contains(root_logs.out, "secret-of-alice")) << root_logs.describe();

  // Root may cancel it, and the reason says who did.
  const CliResult root_cancel = cluster().cli("cancel", id);
  EXPECT_EQ(root_cancel.code, 0) << root_cancel.describe();
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 5000));
  const Json done = cluster().describe(id);
  EXPECT_TRUE(contains(done.value("statusReason", ""), "cancelled by user")) << done.dump(2);
  EXPECT_TRUE(contains(done.value("statusReason", ""), "root")) << done.dump(2);
}

TEST_F(MultiUserTest, OwnerMayCancelOwnJob) {
  auto alice = cluster().create_user("c");
  ASSERT_TRUE(alice);
  CliOptions as_alice;
  as_alice.as = &*alice;
  as_alice.cwd = cluster().make_user_dir(*alice, "alice");
  const std::string id = cluster().submit({"--wrap", "sleep 30"}, as_alice);
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  const CliResult r = cluster().run_cli({"cancel", id}, as_alice);
  EXPECT_EQ(r.code, 0) << r.describe();
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 5000));
  EXPECT_EQ(cluster().describe(id).value("statusReason", ""), "cancelled by user");
}

TEST_F(MultiUserTest, JobCannotWriteWhereItsUserMayNot) {
  auto alice = cluster().create_user("d");
  ASSERT_TRUE(alice);
  CliOptions as_alice;
  as_alice.as = &*alice;
  as_alice.cwd = cluster().make_user_dir(*alice, "alice");
  // Output into root's directory: the job's user opens the file, so this fails.
  const std::string root_dir = cluster().work_dir();
  const std::string id = cluster().submit({"-o", root_dir + "/stolen-%j.out", "--wrap", "echo hi"}, as_alice);
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED"));
  const Json j = cluster().describe(id);
  EXPECT_TRUE(contains(j.value("statusReason", ""), "cannot open output file")) << j.dump(2);
  EXPECT_TRUE(contains(j.value("statusReason", ""), "Permission denied")) << j.dump(2);
  EXPECT_FALSE(fs::exists(root_dir + "/stolen-" + id + ".out"));
}

}  // namespace
}  // namespace drover::it

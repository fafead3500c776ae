// MUNGE credentials against a real munged (started by the test with its own key).
#include <gtest/gtest.h>
#include <unistd.h>

#include "../support/munge_daemon.hpp"
#include "transport/munge_credential.hpp"

namespace drover::transport {
namespace {

class MungeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!munged_.available()) GTEST_SKIP() << "needs munged (Debian package munge): " << munged_.why();
  }
  testing::MungeDaemon munged_;
};

TEST_F(MungeTest, ACredentialCarriesItsMakersIdentityAndPayload) {
  auto cred = munge_encode("agent-hello node01", munged_.socket());
  ASSERT_TRUE(cred) << cred.message();
  EXPECT_EQ(cred->rfind("MUNGE:", 0), 0u) << *cred;
  auto id = munge_decode(*cred, munged_.socket());
  ASSERT_TRUE(id) << id.message();
  EXPECT_EQ(id->uid, ::getuid());
  EXPECT_EQ(id->gid, ::getgid());
  EXPECT_EQ(id->payload, "agent-hello node01");
}

TEST_F(MungeTest, ACredentialIsGoodOnlyOnce) {
  auto cred = munge_encode("x", munged_.socket());
  ASSERT_TRUE(cred);
  ASSERT_TRUE(munge_decode(*cred, munged_.socket()));
  auto again = munge_decode(*cred, munged_.socket());
  ASSERT_FALSE(again);
  EXPECT_NE(again.message().find("eplayed"), std::string::npos) << again.message();
}

TEST_F(MungeTest, ACredentialFromAnotherKeyIsRefused) {
  testing::MungeDaemon other;  // a different cluster: different key
  ASSERT_TRUE(other.available()) << other.why();
  auto cred = munge_encode("x", other.socket());
  ASSERT_TRUE(cred);
  auto id = munge_decode(*cred, munged_.socket());
  ASSERT_FALSE(id);
  EXPECT_NE(id.message().find("MUNGE credential refused"), std::string::npos) << id.message();
}

TEST_F(MungeTest, GarbageAndTamperingAreRefused) {
  EXPECT_FALSE(munge_decode("", munged_.socket()));
  EXPECT_FALSE(munge_decode("not a credential", munged_.socket()));
  auto cred = munge_encode("payload", munged_.socket());
  ASSERT_TRUE(cred);
  std::string bad = *cred;
  bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(munge_decode(bad, munged_.socket()));
}

TEST(MungeNoDaemon, ASocketWithNoDaemonSaysSo) {
  auto cred = munge_encode("x", "/nonexistent/munge.sock");
  ASSERT_FALSE(cred);
  EXPECT_NE(cred.message().find("munged"), std::string::npos) << cred.message();
}

}  // namespace
}  // namespace drover::transport

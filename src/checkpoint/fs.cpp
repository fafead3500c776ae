#include "fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <system_error>
#include <thread>

#include "crc32c.hpp"
#include "errors.hpp"

namespace drover::checkpoint::detail {
namespace {

Error io_error(const std::string& what, int err) { return make_error(ErrorCode::io, what, errno_text(err)); }

int open_retry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do fd = ::open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

int fsync_retry(int fd) {
  int rc;
  do rc = ::fsync(fd);
  while (rc < 0 && errno == EINTR);
  return rc;
}

// Closes on scope exit; close(2) is not retried (Linux releases the fd even on EINTR).
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Status make_directories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return make_error(ErrorCode::io, "cannot create directory " + path, ec.message());
  if (!std::filesystem::is_directory(path, ec))
    return make_error(ErrorCode::io, "cannot use " + path, "not a directory");
  return {};
}

Status make_directory(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0) return io_error("cannot create directory " + path, errno);
  return {};
}

Status write_file_durably(const std::string& path, const std::string& content) {
  Fd f{open_retry(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644)};
  if (f.fd < 0) return io_error("cannot create " + path, errno);
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(f.fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write " + path, errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (fsync_retry(f.fd) != 0) return io_error("cannot fsync " + path, errno);
  const int fd = std::exchange(f.fd, -1);
  if (::close(fd) != 0 && errno != EINTR) return io_error("cannot close " + path, errno);
  return {};
}

Result<std::string> read_small_file(const std::string& path, std::size_t limit) {
  Fd f{open_retry(path.c_str(), O_RDONLY)};
  if (f.fd < 0) return make_error(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io, "cannot open " + path,
                                  errno_text(errno));
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read " + path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit)
      return make_error(ErrorCode::corrupt, "cannot read " + path, "larger than " + std::to_string(limit) + " bytes");
  }
  return out;
}

Result<std::uint64_t> file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io, "cannot stat " + path,
                      errno_text(errno));
  return static_cast<std::uint64_t>(st.st_size);
}

Status sync_path(const std::string& path) {
  Fd f{open_retry(path.c_str(), O_RDONLY)};
  if (f.fd < 0) return io_error("cannot open " + path + " to fsync it", errno);
  if (fsync_retry(f.fd) != 0) return io_error("cannot fsync " + path, errno);
  return {};
}

namespace {

Result<std::uint32_t> checksum_fd(int fd, const std::string& path, std::uint64_t offset, std::uint64_t length) {
  // Sequential reads of the part: the kernel's readahead does the rest.
  ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_SEQUENTIAL);
  constexpr std::size_t kBuffer = 4 << 20;
  std::vector<unsigned char> buf(std::min<std::uint64_t>(kBuffer, std::max<std::uint64_t>(length, 1)));
  std::uint32_t crc = 0;
  std::uint64_t pos = offset;
  const std::uint64_t end = offset + length;
  while (pos < end) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - pos));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read " + path, errno);
    }
    if (n == 0) return make_error(ErrorCode::corrupt, "cannot read " + path, "file is shorter than expected");
    crc = crc32c_extend(crc, buf.data(), static_cast<std::size_t>(n));
    pos += static_cast<std::uint64_t>(n);
  }
  return crc;
}

}  // namespace

Result<std::uint32_t> checksum_range(const std::string& path, std::uint64_t offset, std::uint64_t length) {
  Fd f{open_retry(path.c_str(), O_RDONLY)};
  if (f.fd < 0) return io_error("cannot open " + path, errno);
  return checksum_fd(f.fd, path, offset, length);
}

Result<std::uint32_t> sync_and_checksum(const std::string& path, std::uint64_t offset, std::uint64_t length) {
  Fd f{open_retry(path.c_str(), O_RDONLY)};
  if (f.fd < 0) return io_error("cannot open " + path, errno);
  int sync_error = 0;
  std::thread flusher([&] { sync_error = fsync_retry(f.fd) == 0 ? 0 : errno; });
  auto crc = checksum_fd(f.fd, path, offset, length);
  flusher.join();
  if (sync_error != 0) return io_error("cannot fsync " + path, sync_error);
  return crc;
}

Result<std::vector<std::string>> list_directory(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return io_error("cannot list " + path, errno);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return io_error("cannot list " + path, err);
  return names;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return make_error(ErrorCode::io, "cannot remove " + path, ec.message());
  return {};
}

Status rename_into_place(const std::string& from, const std::string& to, const std::string& aside) {
  if (::rename(from.c_str(), to.c_str()) == 0) return {};
  if (errno != ENOTEMPTY && errno != EEXIST) return io_error("cannot rename " + from + " to " + to, errno);
  // A checkpoint of this step exists already (an earlier attempt got this far): swap.
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
    // `from` now holds the old one.
    if (auto r = remove_tree(from); !r) return r;
    return {};
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    return io_error("cannot swap " + from + " with " + to, errno);
  // No RENAME_EXCHANGE here (NFS, some parallel file systems): move the old one aside first.
  // A crash in between leaves the step missing, but older checkpoints and `aside` (a
  // leftover, removed at the next open) intact.
  if (::rename(to.c_str(), aside.c_str()) != 0) return io_error("cannot rename " + to + " to " + aside, errno);
  if (::rename(from.c_str(), to.c_str()) != 0) return io_error("cannot rename " + from + " to " + to, errno);
  return remove_tree(aside);
}

std::string unique_suffix() {
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  std::random_device rd;
  char tail[32];
  std::snprintf(tail, sizeof tail, "%08x", rd());
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + tail;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace drover::checkpoint::detail

/* The C API, from C (compiled as C99 with -pedantic, so checkpoint.h must be valid C).
   Each function returns 0, or 1 with the reason in `why`. */
#include <drover/checkpoint.h>

#include <stdio.h>
#include <string.h>

#define FAIL(...)                              \
  do {                                         \
    snprintf(why, why_size, __VA_ARGS__);      \
    if (h) drover_ckpt_close(h);               \
    return 1;                                  \
  } while (0)

int c_api_roundtrip(const char* dir, char* why, size_t why_size) {
  drover_ckpt* h = NULL;
  double field[4][6];
  int32_t ids[5];
  int64_t shape[2] = {4, 6}, zero[2] = {0, 0}, n_ids = 5, zero1 = 0;
  int64_t step = -1, dims[4] = {0, 0, 0, 0}, n = 0;
  double time = -1, dt = 0, got[4][6], slab[2][3];
  char text[64];
  int type = 0, ndims = 0, rc, s, i, j;

  if (drover_ckpt_open(dir, 2, DROVER_CKPT_NO_SIGNAL_HANDLER, &h) != DROVER_CKPT_OK)
    FAIL("open: %s", drover_ckpt_last_error(NULL));
  if (drover_ckpt_rank(h) != 0 || drover_ckpt_size(h) != 1) FAIL("serial store has rank %d size %d", drover_ckpt_rank(h), drover_ckpt_size(h));
  if (strcmp(drover_ckpt_directory(h), dir) != 0) FAIL("directory %s", drover_ckpt_directory(h));
  for (s = 1; s <= 3; ++s) {
    for (i = 0; i < 4; ++i)
      for (j = 0; j < 6; ++j) field[i][j] = s * 100 + i * 10 + j;
    for (i = 0; i < 5; ++i) ids[i] = s * 7 + i;
    if (drover_ckpt_begin(h, s, s * 0.5) != 0) FAIL("begin %d: %s", s, drover_ckpt_last_error(h));
    if (drover_ckpt_write(h, "field", DROVER_CKPT_FLOAT64, 2, shape, zero, shape, field) != 0)
      FAIL("write field: %s", drover_ckpt_last_error(h));
    if (drover_ckpt_write(h, "ids", DROVER_CKPT_INT32, 1, &n_ids, &zero1, &n_ids, ids) != 0)
      FAIL("write ids: %s", drover_ckpt_last_error(h));
    if (drover_ckpt_set_attr_int64(h, "n", 4 * s) != 0 || drover_ckpt_set_attr_double(h, "dt", 0.125) != 0 ||
        drover_ckpt_set_attr_string(h, "name", "c-test") != 0)
      FAIL("attributes: %s", drover_ckpt_last_error(h));
    if (drover_ckpt_commit(h) != 0) FAIL("commit %d: %s", s, drover_ckpt_last_error(h));
  }
  drover_ckpt_close(h);
  h = NULL;

  if (drover_ckpt_open(dir, 2, DROVER_CKPT_NO_SIGNAL_HANDLER, &h) != 0) FAIL("reopen: %s", drover_ckpt_last_error(NULL));
  if (drover_ckpt_is_restart(h) != 1) FAIL("is_restart is not 1");
  rc = drover_ckpt_restart(h, &step, &time);
  if (rc != 1) FAIL("restart returned %d: %s", rc, drover_ckpt_last_error(h));
  if (step != 3 || time != 1.5) FAIL("restart found step %lld time %g", (long long)step, time);
  if (drover_ckpt_dataset_shape(h, "field", &type, &ndims, dims, 4) != 0) FAIL("shape: %s", drover_ckpt_last_error(h));
  if (type != DROVER_CKPT_FLOAT64 || ndims != 2 || dims[0] != 4 || dims[1] != 6)
    FAIL("shape: type %d ndims %d dims %lld %lld", type, ndims, (long long)dims[0], (long long)dims[1]);
  if (drover_ckpt_read(h, "field", DROVER_CKPT_FLOAT64, 2, shape, NULL, NULL, got) != 0)
    FAIL("read field: %s", drover_ckpt_last_error(h));
  for (i = 0; i < 4; ++i)
    for (j = 0; j < 6; ++j)
      if (got[i][j] != 300 + i * 10 + j) FAIL("field[%d][%d] = %g", i, j, got[i][j]);
  {
    int64_t off[2] = {1, 2}, cnt[2] = {2, 3};
    if (drover_ckpt_read(h, "field", DROVER_CKPT_FLOAT64, 2, NULL, off, cnt, slab) != 0)
      FAIL("read slab: %s", drover_ckpt_last_error(h));
    if (slab[0][0] != 312 || slab[1][2] != 324) FAIL("slab %g %g", slab[0][0], slab[1][2]);
  }
  {
    int64_t wrong[2] = {6, 4};
    rc = drover_ckpt_read(h, "field", DROVER_CKPT_FLOAT64, 2, wrong, NULL, NULL, got);
    if (rc != DROVER_CKPT_EMISMATCH || !strstr(drover_ckpt_last_error(h), "the checkpoint has [4,6], the caller expects [6,4]"))
      FAIL("mismatch: %d %s", rc, drover_ckpt_last_error(h));
  }
  {
    int32_t back[5];
    if (drover_ckpt_read(h, "ids", DROVER_CKPT_INT32, 1, &n_ids, NULL, NULL, back) != 0 || back[4] != 25)
      FAIL("ids: %s", drover_ckpt_last_error(h));
    rc = drover_ckpt_read(h, "ids", DROVER_CKPT_INT64, 1, NULL, NULL, NULL, back);
    if (rc != DROVER_CKPT_EMISMATCH) FAIL("ids as int64: %d %s", rc, drover_ckpt_last_error(h));
  }
  if (drover_ckpt_get_attr_int64(h, "n", &n) != 0 || n != 12) FAIL("attr n: %s", drover_ckpt_last_error(h));
  if (drover_ckpt_get_attr_double(h, "dt", &dt) != 0 || dt != 0.125) FAIL("attr dt: %s", drover_ckpt_last_error(h));
  if (drover_ckpt_get_attr_string(h, "name", text, sizeof text) != 0 || strcmp(text, "c-test") != 0)
    FAIL("attr name: %s", drover_ckpt_last_error(h));
  if (drover_ckpt_get_attr_string(h, "name", text, 3) != DROVER_CKPT_EINVAL) FAIL("small buffer accepted");
  if (drover_ckpt_get_attr_int64(h, "missing", &n) != DROVER_CKPT_ENOTFOUND) FAIL("missing attribute found");
  if (drover_ckpt_end_read(h) != 0) FAIL("end_read");
  if (drover_ckpt_read(h, "ids", DROVER_CKPT_INT32, 1, NULL, NULL, NULL, got) != DROVER_CKPT_EINVAL)
    FAIL("read after end_read");
  drover_ckpt_close(h);
  return 0;
}

int c_api_errors(const char* dir, char* why, size_t why_size) {
  drover_ckpt* h = NULL;
  int64_t shape = 4, off = 2, cnt = 4;
  double v[4] = {1, 2, 3, 4};
  int rc;
  if (drover_ckpt_open(NULL, 0, 0, &h) == 0) FAIL("open without a directory worked");
  if (!strstr(drover_ckpt_last_error(NULL), "DROVER_CHECKPOINT_DIR")) FAIL("open error: %s", drover_ckpt_last_error(NULL));
  if (drover_ckpt_open(dir, -1, 0, &h) != DROVER_CKPT_EINVAL || h != NULL) FAIL("keep_last -1 accepted");
  if (drover_ckpt_open(dir, 0, DROVER_CKPT_NO_SIGNAL_HANDLER, &h) != 0) FAIL("open: %s", drover_ckpt_last_error(NULL));
  if (drover_ckpt_write(h, "T", DROVER_CKPT_FLOAT64, 1, &shape, &off, &cnt, v) != DROVER_CKPT_EINVAL ||
      !strstr(drover_ckpt_last_error(h), "no checkpoint begun"))
    FAIL("write before begin: %s", drover_ckpt_last_error(h));
  if (drover_ckpt_begin(h, 5, 0.0) != 0) FAIL("begin: %s", drover_ckpt_last_error(h));
  if (drover_ckpt_begin(h, 6, 0.0) != DROVER_CKPT_EINVAL) FAIL("second begin accepted");
  rc = drover_ckpt_write(h, "T", DROVER_CKPT_FLOAT64, 1, &shape, &off, &cnt, v);
  if (rc != DROVER_CKPT_EINVAL ||
      strcmp(drover_ckpt_last_error(h),
             "checkpoint 5: write of dataset 'T' failed: slab offset [2] count [4] is outside the global shape [4]") != 0)
    FAIL("bad slab: %d %s", rc, drover_ckpt_last_error(h));
  rc = drover_ckpt_write(h, "U", 99, 1, &shape, &off, &cnt, v);
  if (rc >= 0) FAIL("bad type accepted");
  shape = -1;
  rc = drover_ckpt_write(h, "V", DROVER_CKPT_FLOAT64, 1, &shape, &off, &cnt, v);
  if (rc >= 0) FAIL("negative shape accepted");
  rc = drover_ckpt_commit(h);
  if (rc != DROVER_CKPT_EINVAL || !strstr(drover_ckpt_last_error(h), "checkpoint 5: not committed: "))
    FAIL("commit after a failed write: %d %s", rc, drover_ckpt_last_error(h));
  if (drover_ckpt_restart(h, NULL, NULL) != 0) FAIL("a checkpoint was committed: %s", drover_ckpt_last_error(h));
  drover_ckpt_close(h);
  return 0;
}

static void collect(const char* message, void* user) {
  char* buffer = (char*)user;
  strncat(buffer, message, 4000 - strlen(buffer) - 2);
  strcat(buffer, "\n");
}

/* Damaged newest checkpoint: the warning reaches the handler. */
int c_api_warning_handler(const char* dir, const char* damaged_file, char* warnings, char* why, size_t why_size) {
  drover_ckpt* h = NULL;
  int64_t step = 0;
  FILE* f;
  if (drover_ckpt_open(dir, 0, DROVER_CKPT_NO_SIGNAL_HANDLER, &h) != 0) FAIL("open: %s", drover_ckpt_last_error(NULL));
  drover_ckpt_set_warning_handler(h, collect, warnings);
  f = fopen(damaged_file, "w");
  if (!f) FAIL("cannot damage %s", damaged_file);
  fputs("garbage", f);
  fclose(f);
  if (drover_ckpt_restart(h, &step, NULL) != 1) FAIL("restart: %s", drover_ckpt_last_error(h));
  if (step != 2) FAIL("restarted from step %lld", (long long)step);
  drover_ckpt_close(h);
  return 0;
}

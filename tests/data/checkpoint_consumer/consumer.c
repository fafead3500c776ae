/* Writes a checkpoint and reads it back through an installed libdrover-checkpoint, built
   with the flags `pkg-config --cflags --libs drover-checkpoint` gives. */
#include <drover/checkpoint.h>

#include <stdio.h>

int main(int argc, char** argv) {
  drover_ckpt* h = NULL;
  int64_t n = 3, zero = 0, step = 0;
  double v[3] = {1.5, 2.5, 3.5}, back[3] = {0, 0, 0}, time = 0;
  if (argc != 2) return 2;
  if (drover_ckpt_open(argv[1], 2, 0, &h) != DROVER_CKPT_OK) {
    fprintf(stderr, "%s\n", drover_ckpt_last_error(NULL));
    return 1;
  }
  if (drover_ckpt_begin(h, 4, 1.0) || drover_ckpt_write(h, "v", DROVER_CKPT_FLOAT64, 1, &n, &zero, &n, v) ||
      drover_ckpt_commit(h) || drover_ckpt_restart(h, &step, &time) != 1 ||
      drover_ckpt_read(h, "v", DROVER_CKPT_FLOAT64, 1, &n, NULL, NULL, back) || back[2] != 3.5) {
    fprintf(stderr, "%s\n", drover_ckpt_last_error(h));
    return 1;
  }
  printf("c consumer: step %lld read back\n", (long long)step);
  drover_ckpt_close(h);
  return 0;
}

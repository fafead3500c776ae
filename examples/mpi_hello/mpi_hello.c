/* mpi_hello: each rank reports where it runs and which CPUs it may use, so a job's
 * placement can be checked by eye:
 *
 *   rank 0 of 4 on n1 cpus 0-1
 *   rank 1 of 4 on n1 cpus 2-3
 *   ...
 *   hello from 4 ranks
 *
 * Rank 0 gathers every rank's line and prints them in rank order, so output from
 * different ranks never interleaves. Plain C: Open MPI's <mpi.h> needs no C++ workaround. */
#define _GNU_SOURCE
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

/* Writes the set as a compact list ("0-3,8,10-11") into a malloc'ed string. */
static char *cpu_list(const cpu_set_t *set, size_t setsize, int ncpus) {
  size_t cap = 64, len = 0;
  char *out = malloc(cap);
  if (out == NULL) return NULL;
  out[0] = '\0';
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    if (!CPU_ISSET_S(cpu, setsize, set)) continue;
    int last = cpu;
    while (last + 1 < ncpus && CPU_ISSET_S(last + 1, setsize, set)) ++last;
    char item[48];
    int n = last == cpu ? snprintf(item, sizeof item, "%s%d", len ? "," : "", cpu)
                        : snprintf(item, sizeof item, "%s%d-%d", len ? "," : "", cpu, last);
    if (len + (size_t)n + 1 > cap) {
      while (len + (size_t)n + 1 > cap) cap *= 2;
      char *grown = realloc(out, cap);
      if (grown == NULL) { free(out); return NULL; }
      out = grown;
    }
    memcpy(out + len, item, (size_t)n + 1);
    len += (size_t)n;
    cpu = last;
  }
  return out;
}

/* The CPUs this process may run on, as a compact list; "?" where the kernel won't say. */
static char *allowed_cpus(void) {
  /* Start at 1024 CPUs and grow: sched_getaffinity fails with EINVAL when the kernel's
   * mask is wider than the one passed. */
  for (int ncpus = 1024; ncpus <= (1 << 20); ncpus *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpus);
    if (set == NULL) break;
    size_t setsize = CPU_ALLOC_SIZE(ncpus);
    CPU_ZERO_S(setsize, set);
    if (sched_getaffinity(0, setsize, set) == 0) {
      char *list = cpu_list(set, setsize, ncpus);
      CPU_FREE(set);
      return list;
    }
    int err = errno;
    CPU_FREE(set);
    if (err != EINVAL) break;
  }
  return strdup("?");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  char host[MPI_MAX_PROCESSOR_NAME];
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);

  char *cpus = allowed_cpus();
  int line_len = snprintf(NULL, 0, "rank %d of %d on %s cpus %s", rank, size, host,
                          cpus ? cpus : "?");
  char *line = malloc((size_t)line_len + 1);
  if (line == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
  snprintf(line, (size_t)line_len + 1, "rank %d of %d on %s cpus %s", rank, size, host,
           cpus ? cpus : "?");
  free(cpus);

  /* Lines differ in length, so gather the lengths first, then the text. */
  int *lens = NULL, *displs = NULL;
  char *all = NULL;
  if (rank == 0) {
    lens = malloc(sizeof(int) * (size_t)size);
    displs = malloc(sizeof(int) * (size_t)size);
    if (lens == NULL || displs == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Gather(&line_len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    int total = 0;
    for (int r = 0; r < size; ++r) {
      displs[r] = total;
      total += lens[r];
    }
    all = malloc((size_t)total + 1);
    if (all == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Gatherv(line, line_len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, MPI_COMM_WORLD);

  if (rank == 0) {
    for (int r = 0; r < size; ++r) printf("%.*s\n", lens[r], all + displs[r]);
    printf("hello from %d ranks\n", size);
    fflush(stdout);
    free(all);
    free(displs);
    free(lens);
  }
  free(line);
  MPI_Finalize();
  return 0;
}

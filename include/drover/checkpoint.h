/* libdrover-checkpoint, C API (docs/CHECKPOINT.md).
 *
 * Writes checkpoints of an application's state as HDF5 files, one shared file per checkpoint
 * written collectively by every MPI rank (parallel HDF5), or by the one process when MPI is
 * not initialized. Commits are atomic: a checkpoint is in place only once every rank wrote
 * its part and the data, a manifest with sizes and CRC32C checksums and the directories are
 * on disk. On restart, drover_ckpt_restart() opens the newest checkpoint whose checksums
 * match, falling back to older ones with a warning.
 *
 * Handles are opaque. Every function that takes a handle is collective over the handle's
 * communicator (all ranks call it, in the same order, with the same names and shapes)
 * unless it says "local". Functions return DROVER_CKPT_OK (0) or a negative error code;
 * drover_ckpt_last_error() gives the message, "<what failed>: <why>". No function prints,
 * except warnings (skipped checkpoints, leftovers removed), which go to stderr on rank 0
 * unless drover_ckpt_set_warning_handler() routes them elsewhere.
 *
 * Arrays are C order (row-major, last dimension fastest). Fortran callers use the
 * drover_checkpoint module (examples/checkpoint_fortran), which reverses the dimensions.
 */
#ifndef DROVER_CHECKPOINT_H
#define DROVER_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <drover/checkpoint_config.h>

#if DROVER_CHECKPOINT_HAVE_MPI
/* Open MPI's and MPICH's deprecated C++ bindings are not needed, and would need their
   own library. */
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DROVER_CKPT_API __attribute__((visibility("default")))
#else
#define DROVER_CKPT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Exit status of a job that wrote a checkpoint and wants to be run again: Drover requeues
   it with the same job id, and the next attempt resumes (DROVER_RESTART=1). 75 is
   EX_TEMPFAIL of <sysexits.h>. */
#define DROVER_CHECKPOINT_EXIT_REQUEUE 75

/* Return codes. */
#define DROVER_CKPT_OK 0
#define DROVER_CKPT_EINVAL (-1)    /* bad argument or call out of order */
#define DROVER_CKPT_EIO (-2)       /* a file system or HDF5 operation failed */
#define DROVER_CKPT_ENOTFOUND (-3) /* no such dataset, attribute or checkpoint */
#define DROVER_CKPT_ECORRUPT (-4)  /* a checkpoint's manifest or checksums are wrong */
#define DROVER_CKPT_EMISMATCH (-5) /* type or shape differ from what the caller expects */
#define DROVER_CKPT_ENOMEM (-6)

/* Element types of datasets. */
#define DROVER_CKPT_FLOAT64 1
#define DROVER_CKPT_FLOAT32 2
#define DROVER_CKPT_INT32 3
#define DROVER_CKPT_INT64 4
#define DROVER_CKPT_UINT8 5

/* Flags of drover_ckpt_open*(), or'ed. */
#define DROVER_CKPT_NO_SIGNAL_HANDLER 1 /* leave the checkpoint signal's handler alone */
#define DROVER_CKPT_SIZES_ONLY 2        /* restart checks file sizes, not checksums */
#define DROVER_CKPT_KEEP_LEFTOVERS 4    /* do not remove interrupted checkpoints at open */

typedef struct drover_ckpt drover_ckpt;

/* Opens (creating it if needed) the checkpoint directory `dir`; NULL or "" means
   $DROVER_CHECKPOINT_DIR, and it is an error if that is not set either. keep_last: how many
   committed checkpoints to keep (0: the default, 2). The communicator is MPI_COMM_WORLD when
   MPI is initialized; without MPI (not initialized), the store is serial and makes no MPI
   calls. Installs the handler of the checkpoint signal ($DROVER_CHECKPOINT_SIGNAL, default
   SIGUSR1) unless flags has DROVER_CKPT_NO_SIGNAL_HANDLER. On failure *out is NULL and
   drover_ckpt_last_error(NULL) says why. */
DROVER_CKPT_API int drover_ckpt_open(const char* dir, int keep_last, int flags, drover_ckpt** out);
#if DROVER_CHECKPOINT_HAVE_MPI
/* The same over `comm` (duplicated; the duplicate is freed by drover_ckpt_close). */
DROVER_CKPT_API int drover_ckpt_open_comm(const char* dir, int keep_last, int flags, MPI_Comm comm,
                                          drover_ckpt** out);
#endif
/* The same with a Fortran communicator handle (an MPI_Fint, e.g. MPI_COMM_WORLD in Fortran). */
DROVER_CKPT_API int drover_ckpt_open_f(const char* dir, int keep_last, int flags, int fortran_comm,
                                       drover_ckpt** out);
/* Closes the store (collective); an uncommitted checkpoint is abandoned. NULL is fine. */
DROVER_CKPT_API void drover_ckpt_close(drover_ckpt* ckpt);

/* Local. The message of the last failed call on `ckpt` ("" if none); with NULL, of this
   thread's last failed drover_ckpt_open*(). Valid until the next call. */
DROVER_CKPT_API const char* drover_ckpt_last_error(const drover_ckpt* ckpt);
/* Local. The store's absolute directory. */
DROVER_CKPT_API const char* drover_ckpt_directory(const drover_ckpt* ckpt);
/* Local. Rank and size of the store's communicator (0 and 1 when serial). */
DROVER_CKPT_API int drover_ckpt_rank(const drover_ckpt* ckpt);
DROVER_CKPT_API int drover_ckpt_size(const drover_ckpt* ckpt);
/* Local. Warnings go to handler(message, user) on rank 0 instead of stderr; NULL restores
   stderr. */
DROVER_CKPT_API void drover_ckpt_set_warning_handler(drover_ckpt* ckpt,
                                                     void (*handler)(const char* message, void* user),
                                                     void* user);

/* ---- writing ---- */

/* Starts checkpoint `step` (0 <= step < 10^12) of simulated time `time`. */
DROVER_CKPT_API int drover_ckpt_begin(drover_ckpt* ckpt, int64_t step, double time);
/* Writes this rank's slab (offset, count) of dataset `name`, an array of `ndims` dimensions
   (1 to 32) of shape global_shape. Every rank passes the same name, type and global_shape;
   a rank with nothing to write passes counts of 0 (data may then be NULL). */
DROVER_CKPT_API int drover_ckpt_write(drover_ckpt* ckpt, const char* name, int type, int ndims,
                                      const int64_t* global_shape, const int64_t* offset,
                                      const int64_t* count, const void* data);
/* Small metadata stored as attributes of /meta; every rank passes the same (rank 0's is
   stored). */
DROVER_CKPT_API int drover_ckpt_set_attr_int64(drover_ckpt* ckpt, const char* key, int64_t value);
DROVER_CKPT_API int drover_ckpt_set_attr_double(drover_ckpt* ckpt, const char* key, double value);
DROVER_CKPT_API int drover_ckpt_set_attr_string(drover_ckpt* ckpt, const char* key, const char* value);
/* Commits: succeeds on every rank or on none. On success the checkpoint is on disk and
   checkpoints beyond keep_last are removed; on failure nothing changed on disk (the previous
   checkpoint stays the newest) and the checkpoint is abandoned. */
DROVER_CKPT_API int drover_ckpt_commit(drover_ckpt* ckpt);
/* Abandons the checkpoint being written (nothing changes on disk). */
DROVER_CKPT_API int drover_ckpt_abort(drover_ckpt* ckpt);

/* ---- restarting ---- */

/* Finds the newest valid checkpoint and opens it for reading: returns 1 and sets *step and
   *time (either may be NULL), 0 if there is none, or a negative error code. Damaged
   checkpoints are skipped with a warning. */
DROVER_CKPT_API int drover_ckpt_restart(drover_ckpt* ckpt, int64_t* step, double* time);
/* Local. Type (DROVER_CKPT_*), number of dimensions and global shape of a dataset of the open
   checkpoint; dims has room for max_dims values. */
DROVER_CKPT_API int drover_ckpt_dataset_shape(drover_ckpt* ckpt, const char* name, int* type, int* ndims,
                                              int64_t* dims, int max_dims);
/* Reads the slab (offset, count) of dataset `name` into data. expected_shape, if not NULL, is
   the global shape the caller expects: a different one (or type) is DROVER_CKPT_EMISMATCH
   with both shapes in the message. offset and count NULL read the whole dataset. */
DROVER_CKPT_API int drover_ckpt_read(drover_ckpt* ckpt, const char* name, int type, int ndims,
                                     const int64_t* expected_shape, const int64_t* offset,
                                     const int64_t* count, void* data);
DROVER_CKPT_API int drover_ckpt_get_attr_int64(drover_ckpt* ckpt, const char* key, int64_t* value);
DROVER_CKPT_API int drover_ckpt_get_attr_double(drover_ckpt* ckpt, const char* key, double* value);
/* Copies the value, NUL-terminated, into buffer (of `size` bytes); too small is EINVAL. */
DROVER_CKPT_API int drover_ckpt_get_attr_string(drover_ckpt* ckpt, const char* key, char* buffer,
                                                size_t size);
/* Closes the checkpoint opened by drover_ckpt_restart. */
DROVER_CKPT_API int drover_ckpt_end_read(drover_ckpt* ckpt);

/* ---- the job contract ---- */

/* 1 if any rank received the checkpoint signal (or called drover_ckpt_request_stop), 0 if
   none, <0 on error. Collective, so every rank takes the same decision. */
DROVER_CKPT_API int drover_ckpt_stop_requested(drover_ckpt* ckpt);
/* Local, async-signal-safe: as if this process had received the checkpoint signal. */
DROVER_CKPT_API void drover_ckpt_request_stop(void);
/* Local: forgets a request (for a job that checkpoints on the signal and carries on). */
DROVER_CKPT_API void drover_ckpt_clear_stop_request(void);
/* 1 if this is a restart: Drover set DROVER_RESTART=1, or a valid checkpoint exists
   (collective); 0 if not; <0 on error. */
DROVER_CKPT_API int drover_ckpt_is_restart(drover_ckpt* ckpt);
/* Local. This attempt's number, $DROVER_ATTEMPT (1-based; 1 when not set). */
DROVER_CKPT_API int drover_ckpt_attempt(void);
/* Local. The checkpoint signal's number. */
DROVER_CKPT_API int drover_ckpt_signal(const drover_ckpt* ckpt);

#ifdef __cplusplus
}
#endif

#endif /* DROVER_CHECKPOINT_H */

! Fortran bindings of libdrover-checkpoint (include/drover/checkpoint.h), through ISO_C_BINDING.
!
! Arrays are described in Fortran's order: shapes, offsets and counts list the first
! (fastest) dimension first, as you declare the array; offsets count from 0, as HDF5's do.
! The module reverses them for the C API, so that a Fortran array A(nx, ny) is stored as
! the HDF5 dataset of shape [ny, nx] that h5py and C read as A[j][i], like HDF5's own
! Fortran API does.
!
! Every function returns 0 (or, for ckpt_restart, 1 when a checkpoint was found) or a
! negative error code; ckpt_last_error(ckpt) says what failed and why.
module drover_checkpoint
  use, intrinsic :: iso_c_binding
  implicit none
  private

  integer, parameter, public :: DROVER_CHECKPOINT_EXIT_REQUEUE = 75

  integer(c_int), parameter, public :: DROVER_CKPT_OK = 0
  integer(c_int), parameter, public :: DROVER_CKPT_FLOAT64 = 1, DROVER_CKPT_FLOAT32 = 2, &
                                       DROVER_CKPT_INT32 = 3, DROVER_CKPT_INT64 = 4, DROVER_CKPT_UINT8 = 5
  integer(c_int), parameter, public :: DROVER_CKPT_NO_SIGNAL_HANDLER = 1, DROVER_CKPT_SIZES_ONLY = 2, &
                                       DROVER_CKPT_KEEP_LEFTOVERS = 4

  type, public :: drover_ckpt_t
    type(c_ptr) :: handle = c_null_ptr
  end type drover_ckpt_t

  public :: ckpt_open, ckpt_close, ckpt_last_error, ckpt_rank, ckpt_size
  public :: ckpt_begin, ckpt_write, ckpt_set_attr_int64, ckpt_set_attr_double, ckpt_commit, ckpt_abort
  public :: ckpt_restart, ckpt_read, ckpt_get_attr_int64, ckpt_get_attr_double, ckpt_end_read
  public :: ckpt_stop_requested, ckpt_is_restart, ckpt_attempt

  interface
    integer(c_int) function c_open(dir, keep_last, flags, out) bind(C, name="drover_ckpt_open")
      import :: c_int, c_char, c_ptr
      character(kind=c_char), dimension(*), intent(in) :: dir
      integer(c_int), value :: keep_last, flags
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function c_open_f(dir, keep_last, flags, comm, out) bind(C, name="drover_ckpt_open_f")
      import :: c_int, c_char, c_ptr
      character(kind=c_char), dimension(*), intent(in) :: dir
      integer(c_int), value :: keep_last, flags, comm
      type(c_ptr), intent(out) :: out
    end function
    subroutine c_close(h) bind(C, name="drover_ckpt_close")
      import :: c_ptr
      type(c_ptr), value :: h
    end subroutine
    type(c_ptr) function c_last_error(h) bind(C, name="drover_ckpt_last_error")
      import :: c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_rank(h) bind(C, name="drover_ckpt_rank")
      import :: c_int, c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_size(h) bind(C, name="drover_ckpt_size")
      import :: c_int, c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_begin(h, step, time) bind(C, name="drover_ckpt_begin")
      import :: c_int, c_ptr, c_int64_t, c_double
      type(c_ptr), value :: h
      integer(c_int64_t), value :: step
      real(c_double), value :: time
    end function
    integer(c_int) function c_write(h, name, type, ndims, shape, offset, count, data) bind(C, name="drover_ckpt_write")
      import :: c_int, c_ptr, c_char, c_int64_t
      type(c_ptr), value :: h
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int), value :: type, ndims
      integer(c_int64_t), dimension(*), intent(in) :: shape, offset, count
      type(*), dimension(*), intent(in) :: data
    end function
    integer(c_int) function c_set_attr_int64(h, key, value) bind(C, name="drover_ckpt_set_attr_int64")
      import :: c_int, c_ptr, c_char, c_int64_t
      type(c_ptr), value :: h
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int64_t), value :: value
    end function
    integer(c_int) function c_set_attr_double(h, key, value) bind(C, name="drover_ckpt_set_attr_double")
      import :: c_int, c_ptr, c_char, c_double
      type(c_ptr), value :: h
      character(kind=c_char), dimension(*), intent(in) :: key
      real(c_double), value :: value
    end function
    integer(c_int) function c_commit(h) bind(C, name="drover_ckpt_commit")
      import :: c_int, c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_abort(h) bind(C, name="drover_ckpt_abort")
      import :: c_int, c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_restart(h, step, time) bind(C, name="drover_ckpt_restart")
      import :: c_int, c_ptr, c_int64_t, c_double
      type(c_ptr), value :: h
      integer(c_int64_t), intent(out) :: step
      real(c_double), intent(out) :: time
    end function
    integer(c_int) function c_read(h, name, type, ndims, expected, offset, count, data) bind(C, name="drover_ckpt_read")
      import :: c_int, c_ptr, c_char, c_int64_t
      type(c_ptr), value :: h
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int), value :: type, ndims
      integer(c_int64_t), dimension(*), intent(in) :: expected, offset, count
      type(*), dimension(*) :: data
    end function
    integer(c_int) function c_get_attr_int64(h, key, value) bind(C, name="drover_ckpt_get_attr_int64")
      import :: c_int, c_ptr, c_char, c_int64_t
      type(c_ptr), value :: h
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int64_t), intent(out) :: value
    end function
    integer(c_int) function c_get_attr_double(h, key, value) bind(C, name="drover_ckpt_get_attr_double")
      import :: c_int, c_ptr, c_char, c_double
      type(c_ptr), value :: h
      character(kind=c_char), dimension(*), intent(in) :: key
      real(c_double), intent(out) :: value
    end function
    integer(c_int) function c_end_read(h) bind(C, name="drover_ckpt_end_read")
      import :: c_int, c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_stop_requested(h) bind(C, name="drover_ckpt_stop_requested")
      import :: c_int, c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_is_restart(h) bind(C, name="drover_ckpt_is_restart")
      import :: c_int, c_ptr
      type(c_ptr), value :: h
    end function
    integer(c_int) function c_attempt() bind(C, name="drover_ckpt_attempt")
      import :: c_int
    end function
    integer(c_size_t) function c_strlen(s) bind(C, name="strlen")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: s
    end function
  end interface

contains

  ! Opens the checkpoint directory `dir` ('' means $DROVER_CHECKPOINT_DIR). With `comm` (a
  ! Fortran MPI communicator: MPI_COMM_WORLD of `use mpi`, or comm%MPI_VAL of mpi_f08),
  ! over that communicator; without it, over MPI_COMM_WORLD if MPI is initialized, else
  ! serial.
  integer function ckpt_open(ckpt, dir, keep_last, flags, comm) result(rc)
    type(drover_ckpt_t), intent(out) :: ckpt
    character(len=*), intent(in) :: dir
    integer, intent(in), optional :: keep_last, flags, comm
    integer(c_int) :: k, f
    k = 0
    f = 0
    if (present(keep_last)) k = int(keep_last, c_int)
    if (present(flags)) f = int(flags, c_int)
    if (present(comm)) then
      rc = c_open_f(trim(dir) // c_null_char, k, f, int(comm, c_int), ckpt%handle)
    else
      rc = c_open(trim(dir) // c_null_char, k, f, ckpt%handle)
    end if
  end function

  subroutine ckpt_close(ckpt)
    type(drover_ckpt_t), intent(inout) :: ckpt
    call c_close(ckpt%handle)
    ckpt%handle = c_null_ptr
  end subroutine

  ! The message of the last failure (of the last ckpt_open when the handle is not open).
  function ckpt_last_error(ckpt) result(message)
    type(drover_ckpt_t), intent(in) :: ckpt
    character(len=:), allocatable :: message
    type(c_ptr) :: p
    character(kind=c_char), pointer :: chars(:)
    integer :: n, i
    p = c_last_error(ckpt%handle)
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: message)
    do i = 1, n
      message(i:i) = chars(i)
    end do
  end function

  integer function ckpt_rank(ckpt)
    type(drover_ckpt_t), intent(in) :: ckpt
    ckpt_rank = c_rank(ckpt%handle)
  end function

  integer function ckpt_size(ckpt)
    type(drover_ckpt_t), intent(in) :: ckpt
    ckpt_size = c_size(ckpt%handle)
  end function

  integer function ckpt_begin(ckpt, step, time) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    integer(c_int64_t), intent(in) :: step
    real(c_double), intent(in) :: time
    rc = c_begin(ckpt%handle, step, time)
  end function

  ! Writes this rank's part of dataset `name`: an array of element type `type`
  ! (DROVER_CKPT_FLOAT64...) whose global shape is `shape`; this rank holds the block that
  ! starts at `offset` (0-based) and has `count` elements in each dimension, in `data`.
  integer function ckpt_write(ckpt, name, type, shape, offset, count, data) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    character(len=*), intent(in) :: name
    integer(c_int), intent(in) :: type
    integer(c_int64_t), intent(in) :: shape(:), offset(:), count(:)
    type(*), dimension(*), intent(in) :: data
    integer(c_int) :: n
    n = int(size(shape), c_int)
    rc = c_write(ckpt%handle, trim(name) // c_null_char, type, n, shape(n:1:-1), offset(n:1:-1), count(n:1:-1), data)
  end function

  integer function ckpt_set_attr_int64(ckpt, key, value) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    character(len=*), intent(in) :: key
    integer(c_int64_t), intent(in) :: value
    rc = c_set_attr_int64(ckpt%handle, trim(key) // c_null_char, value)
  end function

  integer function ckpt_set_attr_double(ckpt, key, value) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    character(len=*), intent(in) :: key
    real(c_double), intent(in) :: value
    rc = c_set_attr_double(ckpt%handle, trim(key) // c_null_char, value)
  end function

  integer function ckpt_commit(ckpt) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    rc = c_commit(ckpt%handle)
  end function

  integer function ckpt_abort(ckpt) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    rc = c_abort(ckpt%handle)
  end function

  ! 1: the newest valid checkpoint is open for reading (its step and time returned); 0: none.
  integer function ckpt_restart(ckpt, step, time) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    integer(c_int64_t), intent(out) :: step
    real(c_double), intent(out) :: time
    rc = c_restart(ckpt%handle, step, time)
  end function

  ! Reads the block (offset, count) of dataset `name`, whose global shape must be `shape`.
  integer function ckpt_read(ckpt, name, type, shape, offset, count, data) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    character(len=*), intent(in) :: name
    integer(c_int), intent(in) :: type
    integer(c_int64_t), intent(in) :: shape(:), offset(:), count(:)
    type(*), dimension(*) :: data
    integer(c_int) :: n
    n = int(size(shape), c_int)
    rc = c_read(ckpt%handle, trim(name) // c_null_char, type, n, shape(n:1:-1), offset(n:1:-1), count(n:1:-1), data)
  end function

  integer function ckpt_get_attr_int64(ckpt, key, value) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    character(len=*), intent(in) :: key
    integer(c_int64_t), intent(out) :: value
    rc = c_get_attr_int64(ckpt%handle, trim(key) // c_null_char, value)
  end function

  integer function ckpt_get_attr_double(ckpt, key, value) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    character(len=*), intent(in) :: key
    real(c_double), intent(out) :: value
    rc = c_get_attr_double(ckpt%handle, trim(key) // c_null_char, value)
  end function

  integer function ckpt_end_read(ckpt) result(rc)
    type(drover_ckpt_t), intent(in) :: ckpt
    rc = c_end_read(ckpt%handle)
  end function

  ! True on every rank when any rank got the checkpoint signal: checkpoint, then
  ! `stop DROVER_CHECKPOINT_EXIT_REQUEUE` (75) so that Drover runs the job again.
  logical function ckpt_stop_requested(ckpt)
    type(drover_ckpt_t), intent(in) :: ckpt
    ckpt_stop_requested = c_stop_requested(ckpt%handle) == 1
  end function

  logical function ckpt_is_restart(ckpt)
    type(drover_ckpt_t), intent(in) :: ckpt
    ckpt_is_restart = c_is_restart(ckpt%handle) == 1
  end function

  integer function ckpt_attempt()
    ckpt_attempt = c_attempt()
  end function

end module drover_checkpoint

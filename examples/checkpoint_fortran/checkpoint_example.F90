! A toy "simulation" that checkpoints with libdrover-checkpoint from Fortran.
!
! Each rank owns a block of a global 1-D array x(0:n-1); a step adds 1 to every element, so
! after step s, x(g) = 0.5 * g + s. The program runs 10 steps from where it starts and writes
! a checkpoint at the end (or as soon as Drover's checkpoint signal arrives, then exits with
! 75, "requeue me"). Run again, it finds the checkpoint, checks every value and carries on.
!
!   DROVER_CHECKPOINT_DIR=/tmp/ck mpirun -np 2 ./checkpoint_fortran   # twice
program checkpoint_example
  use, intrinsic :: iso_c_binding
  use drover_checkpoint
#ifdef DROVER_EXAMPLE_MPI
  use mpi
#endif
  implicit none
  integer(c_int64_t), parameter :: n = 1000, steps_per_run = 10
  type(drover_ckpt_t) :: ckpt
  real(c_double), allocatable :: x(:)
  integer(c_int64_t) :: lo, hi, i, step, first, last, bad, nvalues
  real(c_double) :: time
  integer :: rc, rank, nranks, ierr
  logical :: stopping

#ifdef DROVER_EXAMPLE_MPI
  call MPI_Init(ierr)
  rc = ckpt_open(ckpt, '', keep_last=2, comm=MPI_COMM_WORLD)
#else
  ierr = 0
  rc = ckpt_open(ckpt, '', keep_last=2)
#endif
  if (rc /= 0) then
    print '(a)', 'checkpoint_fortran: ' // ckpt_last_error(ckpt)
    error stop 1
  end if
  rank = ckpt_rank(ckpt)
  nranks = ckpt_size(ckpt)
  lo = n * rank / nranks
  hi = n * (rank + 1) / nranks
  allocate(x(lo:hi - 1))

  rc = ckpt_restart(ckpt, step, time)
  if (rc < 0) call fail('restart')
  if (rc == 1) then
    ! Another decomposition than the writer's would do as well: the global shape is stored.
    rc = ckpt_read(ckpt, 'x', DROVER_CKPT_FLOAT64, [n], [lo], [hi - lo], x)
    if (rc /= 0) call fail('read')
    rc = ckpt_get_attr_int64(ckpt, 'n', nvalues)
    if (rc /= 0 .or. nvalues /= n) call fail('attribute n')
    rc = ckpt_end_read(ckpt)
    bad = 0
    do i = lo, hi - 1
      if (x(i) /= 0.5d0 * i + step) bad = bad + 1
    end do
    if (bad /= 0) then
      print '(a,i0,a,i0)', 'rank ', rank, ': wrong values: ', bad
      error stop 2
    end if
    print '(a,i0,a,i0,a,i0,a)', 'rank ', rank, ': resumed from step ', step, ', ', hi - lo, ' values verified'
  else
    step = 0
    do i = lo, hi - 1
      x(i) = 0.5d0 * i
    end do
    if (rank == 0) print '(a)', 'no checkpoint: starting at step 0'
  end if

  first = step + 1
  last = step + steps_per_run
  stopping = .false.
  do step = first, last
    x = x + 1.0d0
    time = 0.1d0 * step
    stopping = ckpt_stop_requested(ckpt)   ! collective: every rank decides alike
    if (stopping) exit
  end do
  if (step > last) step = last

  rc = ckpt_begin(ckpt, step, time)
  if (rc == 0) rc = ckpt_write(ckpt, 'x', DROVER_CKPT_FLOAT64, [n], [lo], [hi - lo], x)
  if (rc == 0) rc = ckpt_set_attr_int64(ckpt, 'n', n)
  if (rc == 0) rc = ckpt_commit(ckpt)
  if (rc /= 0) call fail('checkpoint')
  if (rank == 0) print '(a,i0)', 'committed step ', step

  call ckpt_close(ckpt)
#ifdef DROVER_EXAMPLE_MPI
  call MPI_Finalize(ierr)
#endif
  if (stopping) stop DROVER_CHECKPOINT_EXIT_REQUEUE

contains

  subroutine fail(what)
    character(len=*), intent(in) :: what
    print '(a)', 'checkpoint_fortran: ' // what // ': ' // ckpt_last_error(ckpt)
    error stop 1
  end subroutine

end program checkpoint_example

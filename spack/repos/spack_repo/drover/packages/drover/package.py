# Spack recipe for Drover, in a package repository of its own (Spack >= 1.0 layout).
# Add it with:  spack repo add spack/repos/spack_repo/drover

from spack_repo.builtin.build_systems.cmake import CMakePackage, generator

from spack.package import *


class Drover(CMakePackage):
    """Drover: a batch job runner for HPC clusters. Job definitions, queues, compute
    environments, array jobs, dependencies, retries and multi-node MPI jobs, with the
    AWS Batch model and sbatch-style job scripts."""

    homepage = "https://github.com/drover-hpc/drover"
    git = "https://github.com/drover-hpc/drover.git"

    version("main", branch="main")

    variant(
        "mpi",
        default=True,
        description="Build the MPI examples and the mpirun launcher (drover-launch)",
    )
    variant(
        "checkpoint",
        default=True,
        description="Build libdrover-checkpoint (HDF5 checkpoints, parallel HDF5 with +mpi)",
    )

    generator("ninja", "make", default="ninja")

    depends_on("c", type="build")
    depends_on("cxx", type="build")
    depends_on("cmake@3.20:", type="build")
    depends_on("pkgconfig", type="build")

    depends_on("hwloc@2:")
    depends_on("sqlite@3.40:")
    depends_on("nlohmann-json@3.10:")
    # Program_options is compiled; Asio and Beast are header-only parts of the same install.
    depends_on("boost@1.74: +program_options")
    # Nodes authenticate to the head node with MUNGE credentials, as Slurm sites do.
    depends_on("munge")

    # The examples use plain MPI; drover-launch plugs into Open MPI's mpirun
    # (plm_rsh_agent), so Open MPI is what sites should pick for the launcher.
    depends_on("mpi", when="+mpi")

    # Checkpoints are written with parallel HDF5 under MPI, serial HDF5 otherwise.
    depends_on("hdf5@1.10:", when="+checkpoint")
    depends_on("hdf5+mpi", when="+checkpoint+mpi")
    depends_on("hdf5~mpi", when="+checkpoint~mpi")

    depends_on("googletest@1.12: +gmock", type="test")
    depends_on("benchmark@1.7:", type="test")

    def cmake_args(self):
        return [
            self.define_from_variant("DROVER_ENABLE_MPI", "mpi"),
            self.define_from_variant("DROVER_ENABLE_CHECKPOINT", "checkpoint"),
            self.define("DROVER_BUILD_TESTS", self.run_tests),
            self.define("DROVER_BUILD_BENCH", False),
        ]

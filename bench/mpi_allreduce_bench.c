/* The reference for bench/distributed.ts: MPI_Allreduce in place on N floats, straight from C, timed
 * the way the TypeScript side times group.allreduce, so the difference is what the binding adds.
 * (OSU's osu_allreduce is not packaged in Debian; this is the same loop.)
 *   mpicc -O2 bench/mpi_allreduce_bench.c -o /tmp/mpi_allreduce_bench
 *   mpirun -np 2 /tmp/mpi_allreduce_bench FLOATS ITERATIONS */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int n = argc > 1 ? atoi(argv[1]) : 1;
  const int iterations = argc > 2 ? atoi(argv[2]) : 100;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  float* x = calloc((size_t)n, sizeof(float));
  double* times = calloc((size_t)iterations, sizeof(double));
  for (int i = 0; i < 10; i++) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  for (int i = 0; i < iterations; i++) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    times[i] = MPI_Wtime() - t;
  }
  if (rank == 0) {
    for (int i = 0; i < iterations; i++) printf("%.9f\n", times[i]);
  }
  free(x);
  free(times);
  MPI_Finalize();
  return 0;
}

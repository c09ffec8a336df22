/*
 * The native entry of `buildfarm` (CustomNativeMain in BuildFarm.CliHost.csproj): it runs before the NativeAOT
 * runtime starts, which costs ~11 ms of CPU on a loaded 2-core VM (docs/PERFORMANCE.md § NAR hashing), so a command
 * line that cannot be `store hash`, `store export` or `origin-serve` is handed to the managed CLI at the cost of an exec alone. Every other line goes
 * to the C# Main (FrontCommand.cs), which decides with the CLI's own parser and hands over what it does not serve.
 * Nothing here decides what a command means: this is a filter that only ever lets through too much.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

int __managed__Main(int argc, char **argv);

/* False only when the line cannot be `store hash`, `store export` or `origin-serve`: "store" and one of the first
 * two are not both arguments, "origin-serve" is not one, and no response file (@FILE) could supply them (no such
 * command has an alias). */
static int may_be_served(int argc, char **argv)
{
    int store = 0, served = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '@')
            return 1;
        store |= strcmp(argv[i], "store") == 0;
        served |= strcmp(argv[i], "hash") == 0 || strcmp(argv[i], "export") == 0;
        if (strcmp(argv[i], "origin-serve") == 0)
            return 1;
    }
    return store && served;
}

int main(int argc, char **argv)
{
    static const char managed[] = "buildfarm-cli";
    if (!may_be_served(argc, argv)) {
        /* The managed CLI beside the real file of this executable (symlinks resolved), as AppContext.BaseDirectory. */
        char path[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - sizeof managed);
        char *slash = n > 0 ? memrchr(path, '/', (size_t)n) : NULL;
        if (slash != NULL) {
            memcpy(slash + 1, managed, sizeof managed);
            execv(path, argv);
        }
        /* Not run: the C# side tries the same exec and reports why it failed, with the CLI's wording. */
    }
    return __managed__Main(argc, argv);
}

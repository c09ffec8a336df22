using System.Diagnostics;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>What a worker keeps secret, faked: a signing key, an SSH key and its config, each 0600 and holding one token.</summary>
internal sealed class WorkerSecrets
{
    private WorkerSecrets(string token, IReadOnlyList<string> files) => (Token, Files) = (token, files);

    public string Token { get; }

    public IReadOnlyList<string> Files { get; }

    public static WorkerSecrets Create(string root)
    {
        var token = "secret-" + Guid.NewGuid().ToString("N");
        string[] files =
        [
            Path.Combine(root, "keys", "signing.sec"),
            Path.Combine(root, ".ssh", "id_ed25519"),
            Path.Combine(root, "worker.json"),
        ];
        foreach (var file in files)
        {
            // Directories open to all: only the sandbox hides the files, not the permissions of their parents.
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.SetUnixFileMode(Path.GetDirectoryName(file)!, (UnixFileMode)0x1ed);
            File.WriteAllText(file, $"{Path.GetFileName(file)}:{token}\n");
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return new WorkerSecrets(token, files);
    }

    /// <summary>Content, mode and owner of each file.</summary>
    public string[] Snapshot() =>
        [.. Files.Select(f => $"{f} {File.GetUnixFileMode(f)} {BuildFarm.Worker.Tests.Supervision.BuilderTestKit.Owner(f)} {File.ReadAllText(f)}")];
}

/// <summary>A static setuid-root program that prints its uids and whether setuid(0) worked: a real way to root on the host.</summary>
internal static class SetuidProbe
{
    private const string Source = """
        #include <stdio.h>
        #include <unistd.h>
        int main(void) {
            uid_t r, e, s;
            getresuid(&r, &e, &s);
            int rc = setuid(0);
            printf("ruid=%d euid=%d setuid0=%d\n", (int)r, (int)e, rc);
            return 0;
        }
        """;

    /// <summary>PTRACE_ATTACH to the pid given as argument: prints <c>ptrace PID: ok</c> or the error.</summary>
    public const string PtraceSource = """
        #include <errno.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/ptrace.h>
        int main(int argc, char **argv) {
            int pid = atoi(argv[1]);
            long rc = ptrace(PTRACE_ATTACH, pid, 0, 0);
            printf("ptrace %d: %s\n", pid, rc == 0 ? "ok" : strerror(errno));
            return rc == 0 ? 0 : 1;
        }
        """;

    /// <summary>Compiles the probe at <paramref name="path"/> (static: the sandbox has no libc) and makes it setuid root.</summary>
    public static string Build(string path)
    {
        Compile(path, Source);
        File.SetUnixFileMode(path, (UnixFileMode)0x9ed); // 04755
        return path;
    }

    /// <summary>Compiles a static C program (the sandbox has no libc) at <paramref name="path"/>.</summary>
    public static string Compile(string path, string source)
    {
        File.WriteAllText(path + ".c", source);
        Run("/usr/bin/gcc", "-static", "-o", path, path + ".c");
        return path;
    }

    /// <summary>Runs the probe as host uid <paramref name="uid"/> (no capabilities) and returns what it printed.</summary>
    public static string RunAsUser(string path, long uid) =>
        Run("/usr/bin/setpriv", $"--reuid={uid}", $"--regid={uid}", "--clear-groups", path);

    private static string Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {p.ExitCode}: {output}");
        return output;
    }
}

using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// Whether this machine's kernel runs 32-bit x86 programs, which an x86_64 worker offering <c>i686-linux</c> needs:
/// as with Nix, its 32-bit builders run natively. Some kernels are built or booted without IA32 emulation
/// (<c>CONFIG_IA32_EMULATION</c> off, or <c>ia32_emulation=0</c>; Firecracker's are an example). There every 32-bit
/// builder fails, so a worker offering i686-linux warns at start (<see cref="ExecutorSelection"/>) and
/// <c>buildfarm-worker check</c> warns too. Not a refusal: an i686-linux derivation may have a 64-bit builder.
/// </summary>
/// <remarks>
/// The check runs a static program of a few instructions that makes the i386 <c>getpid</c> (20) with <c>int $0x80</c>,
/// the i386 system-call entry, and exits 0 if the answer is a pid. Without IA32 emulation the kernel has no such
/// entry and the program dies of SIGSEGV before any system call. It runs outside the sandbox: what is asked is the
/// kernel's, not the seccomp filter's (which admits i386 calls on such a worker, <see cref="Sandbox.SeccompFilter"/>).
/// </remarks>
internal static class I386Support
{
    public const string System = "i686-linux";

    /// <summary>What an operator can do about it (the worker's start-up warning and <c>check</c> say it).</summary>
    public const string Fix = $"remove {System} from Systems, or use a kernel with IA32 emulation (CONFIG_IA32_EMULATION=y, not booted with ia32_emulation=0)";

    private static readonly byte[] Code =
    [
        0xB8, 0x14, 0x00, 0x00, 0x00, // mov eax, 20          i386 getpid
        0xCD, 0x80,                   // int 0x80
        0x85, 0xC0,                   // test eax, eax
        0x7E, 0x09,                   // jle fail             (no pid: -errno)
        0x31, 0xFF,                   // xor edi, edi         status 0
        0xB8, 0xE7, 0x00, 0x00, 0x00, // mov eax, 231         x86_64 exit_group
        0x0F, 0x05,                   // syscall
        0xBF, 0x01, 0x00, 0x00, 0x00, // fail: mov edi, 1     status 1
        0xB8, 0xE7, 0x00, 0x00, 0x00, // mov eax, 231
        0x0F, 0x05,                   // syscall
    ];

    internal static readonly byte[] Program = StaticElf.Build(Code);

    /// <summary>Whether the worker's systems need the check here: an x86_64 machine offering i686-linux.</summary>
    public static bool Needed(IEnumerable<string> systems) =>
        RuntimeInformation.OSArchitecture == Architecture.X64 && systems.Contains(System, StringComparer.Ordinal);

    /// <summary>Null when the kernel runs i386 system calls; otherwise why it does not, in words for an operator.</summary>
    public static async Task<string?> ProblemAsync(CancellationToken cancellationToken)
    {
        var dir = Directory.CreateTempSubdirectory("buildfarm-i386-probe-");
        try
        {
            var path = Path.Combine(dir.FullName, "i386-getpid");
            StaticElf.Write(path, Program, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            var status = await RunAsync(path, cancellationToken);
            return status switch
            {
                0 => null,
                128 + 11 => "this kernel cannot run 32-bit x86 programs: it has no IA32 emulation (an i386 system call faulted with SIGSEGV)",
                _ => $"this kernel did not answer an i386 system call (the probe exited with status {status})",
            };
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The probe's exit status (128 + the signal when one killed it, as a shell reports it).</summary>
    private static async Task<int> RunAsync(string path, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo(path) { UseShellExecute = false })!;
                await process.WaitForExitAsync(cancellationToken);
                return process.ExitCode;
            }
            catch (Win32Exception e) when (e.NativeErrorCode == 26 && attempt < 5)
            {
                // ETXTBSY: a process forked elsewhere in the worker may briefly hold the file's write descriptor
                // between its fork and exec (it is close-on-exec, so only briefly).
                await Task.Delay(TimeSpan.FromMilliseconds(20 * attempt), cancellationToken);
            }
        }
    }
}

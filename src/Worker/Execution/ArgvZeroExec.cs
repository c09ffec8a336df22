using System.Runtime.InteropServices;
using System.Text;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// Gives the builder Nix's <c>argv[0]</c>: the base name of its path (<c>baseNameOf(drv->builder)</c> in Nix 2.8's
/// <c>LocalDerivationGoal</c>), which neither .NET's process start nor bubblewrap 0.8 (no <c>--argv0</c>) can set.
/// The worker runs this static x86-64 program instead, as <c>EXEC BUILDER ARGV0 ARGS…</c>; it closes every file
/// descriptor above 2 (in the sandbox the launcher's descriptor of this very file, fd 5, through which bubblewrap
/// starts it: nothing of it is visible in the builder's root) and <c>execve</c>s the builder with the argv it was
/// given from ARGV0 on and its environment untouched. Nothing of it outlives the exec, so the builder sees exactly
/// what Nix's builder sees. Where <c>execve</c> fails it says so as bubblewrap would
/// (<c>buildfarm-exec: execvp BUILDER: No such file or directory</c>) and exits 127: the builder's own failure.
/// Other architectures run the builder directly, with its full path as <c>argv[0]</c>.
/// </summary>
internal static class ArgvZeroExec
{
    /// <summary>The fd the sandbox launcher opens this program on; bubblewrap execs <c>/proc/self/fd/5</c>.</summary>
    public const int SandboxFd = 5;

    /// <summary>Machine code, position-independent; assembled from the instructions beside it (GNU as, Intel syntax).</summary>
    private static readonly byte[] Code =
    [
        0xB8, 0xB4, 0x01, 0x00, 0x00,         //  0: mov eax, 436                 ; close_range(3, ~0U, 0): the builder gets fds 0, 1 and 2 only
        0xBF, 0x03, 0x00, 0x00, 0x00,         //  5: mov edi, 3
        0xBE, 0xFF, 0xFF, 0xFF, 0xFF,         //  a: mov esi, -1
        0x31, 0xD2,                           //  f: xor edx, edx
        0x0F, 0x05,                           // 11: syscall
        0xB8, 0x03, 0x00, 0x00, 0x00,         // 13: mov eax, 3                   ; close(5): the launcher's fd of this file, where close_range is missing
        0xBF, 0x05, 0x00, 0x00, 0x00,         // 18: mov edi, 5
        0x0F, 0x05,                           // 1d: syscall
        0x48, 0x8B, 0x0C, 0x24,               // 1f: mov rcx, [rsp]               ; argc
        0x48, 0x8B, 0x7C, 0x24, 0x10,         // 23: mov rdi, [rsp+16]            ; argv[1]: the builder
        0x48, 0x85, 0xFF,                     // 28: test rdi, rdi
        0x0F, 0x84, 0x81, 0x00, 0x00, 0x00,   // 2b: jz exit
        0x48, 0x8D, 0x74, 0x24, 0x18,         // 31: lea rsi, [rsp+24]            ; argv+2: the builder's argv, argv[0] first
        0x48, 0x8D, 0x54, 0xCC, 0x10,         // 36: lea rdx, [rsp+rcx*8+16]      ; envp, unchanged
        0xB8, 0x3B, 0x00, 0x00, 0x00,         // 3b: mov eax, 59                  ; execve
        0x0F, 0x05,                           // 40: syscall
        0xF7, 0xD8,                           // 42: neg eax                      ; it returned: errno
        0x89, 0xC3,                           // 44: mov ebx, eax
        0x48, 0x8D, 0x35, 0x7E, 0x00, 0x00, 0x00, // 46: lea rsi, [rip+prefix]        ; "buildfarm-exec: execvp "
        0xBA, 0x17, 0x00, 0x00, 0x00,         // 4d: mov edx, 23
        0xE8, 0x67, 0x00, 0x00, 0x00,         // 52: call write2
        0x48, 0x8B, 0x74, 0x24, 0x10,         // 57: mov rsi, [rsp+16]            ; the builder's path
        0x31, 0xD2,                           // 5c: xor edx, edx
        0x80, 0x3C, 0x16, 0x00,               // 5e: strlen: cmp byte [rsi+rdx], 0
        0x74, 0x05,                           // 62: je 1f
        0x48, 0xFF, 0xC2,                     // 64: inc rdx
        0xEB, 0xF5,                           // 67: jmp strlen
        0xE8, 0x50, 0x00, 0x00, 0x00,         // 69: 1: call write2
        0x48, 0x8D, 0x35, 0x6D, 0x00, 0x00, 0x00, // 6e: lea rsi, [rip+enoent]
        0xBA, 0x1C, 0x00, 0x00, 0x00,         // 75: mov edx, 28
        0x83, 0xFB, 0x02,                     // 7a: cmp ebx, 2                   ; ENOENT
        0x74, 0x2E,                           // 7d: je 2f
        0x48, 0x8D, 0x35, 0x78, 0x00, 0x00, 0x00, // 7f: lea rsi, [rip+eacces]
        0xBA, 0x14, 0x00, 0x00, 0x00,         // 86: mov edx, 20
        0x83, 0xFB, 0x0D,                     // 8b: cmp ebx, 13                  ; EACCES
        0x74, 0x1D,                           // 8e: je 2f
        0x48, 0x8D, 0x35, 0x7B, 0x00, 0x00, 0x00, // 90: lea rsi, [rip+enoexec]
        0xBA, 0x14, 0x00, 0x00, 0x00,         // 97: mov edx, 20
        0x83, 0xFB, 0x08,                     // 9c: cmp ebx, 8                   ; ENOEXEC
        0x74, 0x0C,                           // 9f: je 2f
        0x48, 0x8D, 0x35, 0x7E, 0x00, 0x00, 0x00, // a1: lea rsi, [rip+other]
        0xBA, 0x11, 0x00, 0x00, 0x00,         // a8: mov edx, 17
        0xE8, 0x0C, 0x00, 0x00, 0x00,         // ad: 2: call write2
        0xBF, 0x7F, 0x00, 0x00, 0x00,         // b2: exit: mov edi, 127
        0xB8, 0xE7, 0x00, 0x00, 0x00,         // b7: mov eax, 231                 ; exit_group(127)
        0x0F, 0x05,                           // bc: syscall
        0xBF, 0x02, 0x00, 0x00, 0x00,         // be: write2: mov edi, 2           ; write(2, rsi, rdx)
        0xB8, 0x01, 0x00, 0x00, 0x00,         // c3: mov eax, 1
        0x0F, 0x05,                           // c8: syscall
        0xC3,                                 // ca: ret
    ];

    /// <summary>The messages, right after the code (the <c>lea</c>s above address them relative to rip).</summary>
    private static readonly string[] Messages = ["buildfarm-exec: execvp ", ": No such file or directory\n", ": Permission denied\n", ": Exec format error\n", ": cannot execute\n"];

    /// <summary>Whether this machine runs the program (x86-64 Linux).</summary>
    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.OSArchitecture == Architecture.X64;

    /// <summary>The whole ELF file (code, messages), built once: the sandbox shares one copy (SandboxShared), an unsandboxed build writes its own.</summary>
    internal static readonly byte[] Program = StaticElf.Build([.. Code, .. Messages.SelectMany(Encoding.ASCII.GetBytes)]);

    /// <summary>Writes the program to <paramref name="path"/> (new file, read and execute for everyone, write for no one).</summary>
    public static void Write(string path) =>
        StaticElf.Write(path, Program, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

    /// <summary>The command line that runs <paramref name="builder"/> through the program at <paramref name="exec"/>.</summary>
    public static IReadOnlyList<string> Command(string exec, string builder, IEnumerable<string> args) =>
        [exec, builder, BaseName(builder), .. args];

    /// <summary>Nix's <c>baseNameOf</c>: what follows the last slash, trailing slashes ignored.</summary>
    public static string BaseName(string path)
    {
        var end = path.Length;
        while (end > 1 && path[end - 1] == '/')
            end--;
        var slash = path.LastIndexOf('/', end - 1);
        return path[(slash + 1)..end];
    }
}

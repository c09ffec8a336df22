using BuildFarm.Worker.Sandbox;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// The generated program run through <see cref="ClassicBpf"/> on chosen <c>seccomp_data</c>. The syscall numbers are
/// written out again here from the kernel's tables (syscall_64.tbl, syscall_32.tbl, asm-generic/unistd.h), so a wrong
/// number in SeccompSyscallTable fails a test instead of being checked against itself.
/// </summary>
public sealed class SeccompFilterTests
{
    private const uint X86_64 = 0xC000003E;
    private const uint I386 = 0x40000003;
    private const uint Aarch64 = 0xC00000B7;
    private const uint Arm = 0x40000028;

    private const uint Allow = 0x7FFF0000;
    private const uint Kill = 0x80000000;
    private const uint Eperm = 0x00050000 | 1;
    private const uint Enosys = 0x00050000 | 38;
    private const uint Enotsup = 0x00050000 | 95;

    // C# has no octal literals: 04000 S_ISUID, 02000 S_ISGID, 0755, 04755, 02755.
    private const ulong SetUid = 0x800;
    private const ulong SetGid = 0x400;
    private const ulong Mode755 = 0x1ED;

    private static readonly byte[] X64Only = SeccompFilter.Build(SeccompArch.X86_64, allowI386: false);
    private static readonly byte[] X64WithI386 = SeccompFilter.Build(SeccompArch.X86_64, allowI386: true);
    private static readonly byte[] Arm64 = SeccompFilter.Build(SeccompArch.Aarch64, allowI386: false);

    public static TheoryData<string, uint, int, int> SetIdModeCalls => new()
    {
        { "x86_64", X86_64, 90, 1 },   // chmod
        { "x86_64", X86_64, 91, 1 },   // fchmod
        { "x86_64", X86_64, 268, 2 },  // fchmodat
        { "x86_64", X86_64, 452, 2 },  // fchmodat2
        { "i386", I386, 15, 1 },       // chmod
        { "i386", I386, 94, 1 },       // fchmod
        { "i386", I386, 306, 2 },      // fchmodat
        { "i386", I386, 452, 2 },      // fchmodat2
        { "aarch64", Aarch64, 52, 1 }, // fchmod (arm64 has no chmod)
        { "aarch64", Aarch64, 53, 2 }, // fchmodat
        { "aarch64", Aarch64, 452, 2 },// fchmodat2
    };

    public static TheoryData<string, uint, int, uint> RefusedCalls => new()
    {
        // setxattr, lsetxattr, fsetxattr, setxattrat: ENOTSUP like Nix (a NAR has no xattrs)
        { "x86_64", X86_64, 188, Enotsup }, { "x86_64", X86_64, 189, Enotsup }, { "x86_64", X86_64, 190, Enotsup }, { "x86_64", X86_64, 463, Enotsup },
        { "i386", I386, 226, Enotsup }, { "i386", I386, 227, Enotsup }, { "i386", I386, 228, Enotsup }, { "i386", I386, 463, Enotsup },
        { "aarch64", Aarch64, 5, Enotsup }, { "aarch64", Aarch64, 6, Enotsup }, { "aarch64", Aarch64, 7, Enotsup }, { "aarch64", Aarch64, 463, Enotsup },
        // add_key request_key keyctl bpf userfaultfd kexec_load kexec_file_load init_module finit_module delete_module reboot swapon swapoff acct
        { "x86_64", X86_64, 248, Eperm }, { "x86_64", X86_64, 249, Eperm }, { "x86_64", X86_64, 250, Eperm }, { "x86_64", X86_64, 321, Eperm },
        { "x86_64", X86_64, 323, Eperm }, { "x86_64", X86_64, 246, Eperm }, { "x86_64", X86_64, 320, Eperm }, { "x86_64", X86_64, 175, Eperm },
        { "x86_64", X86_64, 313, Eperm }, { "x86_64", X86_64, 176, Eperm }, { "x86_64", X86_64, 169, Eperm }, { "x86_64", X86_64, 167, Eperm },
        { "x86_64", X86_64, 168, Eperm }, { "x86_64", X86_64, 163, Eperm },
        // the same on i386, which has no kexec_file_load
        { "i386", I386, 286, Eperm }, { "i386", I386, 287, Eperm }, { "i386", I386, 288, Eperm }, { "i386", I386, 357, Eperm },
        { "i386", I386, 374, Eperm }, { "i386", I386, 283, Eperm }, { "i386", I386, 128, Eperm }, { "i386", I386, 350, Eperm },
        { "i386", I386, 129, Eperm }, { "i386", I386, 88, Eperm }, { "i386", I386, 87, Eperm }, { "i386", I386, 115, Eperm },
        { "i386", I386, 51, Eperm },
        { "aarch64", Aarch64, 217, Eperm }, { "aarch64", Aarch64, 218, Eperm }, { "aarch64", Aarch64, 219, Eperm }, { "aarch64", Aarch64, 280, Eperm },
        { "aarch64", Aarch64, 282, Eperm }, { "aarch64", Aarch64, 104, Eperm }, { "aarch64", Aarch64, 294, Eperm }, { "aarch64", Aarch64, 105, Eperm },
        { "aarch64", Aarch64, 273, Eperm }, { "aarch64", Aarch64, 106, Eperm }, { "aarch64", Aarch64, 142, Eperm }, { "aarch64", Aarch64, 224, Eperm },
        { "aarch64", Aarch64, 225, Eperm }, { "aarch64", Aarch64, 89, Eperm },
    };

    public static TheoryData<string, uint, int> AllowedCalls => new()
    {
        // read execve clone unshare mount getxattr removexattr ptrace perf_event_open io_uring_setup/enter/register
        { "x86_64", X86_64, 0 }, { "x86_64", X86_64, 59 }, { "x86_64", X86_64, 56 }, { "x86_64", X86_64, 272 },
        { "x86_64", X86_64, 165 }, { "x86_64", X86_64, 191 }, { "x86_64", X86_64, 197 }, { "x86_64", X86_64, 101 },
        { "x86_64", X86_64, 298 }, { "x86_64", X86_64, 425 }, { "x86_64", X86_64, 426 }, { "x86_64", X86_64, 427 },
        // i386: 90 is mmap, 188 getpmsg, 91 munmap (x86_64's chmod, setxattr, fchmod); ptrace 26, perf_event_open 336, io_uring_setup 425
        { "i386", I386, 90 }, { "i386", I386, 188 }, { "i386", I386, 91 }, { "i386", I386, 26 }, { "i386", I386, 336 }, { "i386", I386, 425 },
        // aarch64: 90 is capget, 15 lremovexattr, 117 ptrace, 241 perf_event_open, 425 io_uring_setup
        { "aarch64", Aarch64, 90 }, { "aarch64", Aarch64, 15 }, { "aarch64", Aarch64, 117 }, { "aarch64", Aarch64, 241 }, { "aarch64", Aarch64, 425 },
    };

    [Theory]
    [MemberData(nameof(SetIdModeCalls))]
    public void Build_ModeWithSetUidOrSetGid_Eperm(string arch, uint auditArch, int nr, int modeArg)
    {
        var program = ProgramFor(arch);

        Assert.Equal(Eperm, Run(program, auditArch, nr, WithArg(modeArg, SetUid | Mode755)));
        Assert.Equal(Eperm, Run(program, auditArch, nr, WithArg(modeArg, SetGid | Mode755)));
        Assert.Equal(Eperm, Run(program, auditArch, nr, WithArg(modeArg, SetUid | SetGid)));
        Assert.Equal(Eperm, Run(program, auditArch, nr, WithArg(modeArg, 0xFFFF_FFFF_0000_0000 | SetUid)));
    }

    [Theory]
    [MemberData(nameof(SetIdModeCalls))]
    public void Build_ModeWithoutSetIdBits_Allowed(string arch, uint auditArch, int nr, int modeArg)
    {
        var program = ProgramFor(arch);

        Assert.Equal(Allow, Run(program, auditArch, nr, WithArg(modeArg, Mode755)));
        Assert.Equal(Allow, Run(program, auditArch, nr, WithArg(modeArg, 0x1FF))); // 0777
        // Set-id bits only in the high word (ignored by the kernel) or in another argument (a path pointer) do not count.
        Assert.Equal(Allow, Run(program, auditArch, nr, WithArg(modeArg, 0x0000_0C00_0000_01ED)));
        Assert.Equal(Allow, Run(program, auditArch, nr, WithArg(modeArg, Mode755, others: 0xFFFF_FFFF_FFFF_FFFF)));
    }

    [Theory]
    [MemberData(nameof(RefusedCalls))]
    public void Build_RefusedCall_ReturnsItsErrno(string arch, uint auditArch, int nr, uint expected)
    {
        Assert.Equal(expected, Run(ProgramFor(arch), auditArch, nr, WithArg(0, 0)));
        Assert.Equal(expected, Run(ProgramFor(arch), auditArch, nr, WithArg(0, 0, others: 0xFFFF_FFFF_FFFF_FFFF)));
    }

    [Theory]
    [MemberData(nameof(AllowedCalls))]
    public void Build_OtherCall_Allowed(string arch, uint auditArch, int nr)
    {
        Assert.Equal(Allow, Run(ProgramFor(arch), auditArch, nr, WithArg(1, SetUid | SetGid, others: SetUid | SetGid)));
    }

    [Theory]
    [InlineData(39)]  // getpid
    [InlineData(90)]  // chmod
    [InlineData(101)] // ptrace
    [InlineData(512)] // x32 rt_sigaction
    public void Build_X32SyscallBitOnX86_64_Enosys(int nr)
    {
        Assert.Equal(Enosys, Run(X64Only, X86_64, 0x40000000 | nr, WithArg(1, Mode755)));
        Assert.Equal(Enosys, Run(X64WithI386, X86_64, 0x40000000 | nr, WithArg(1, Mode755)));
    }

    [Fact]
    public void Build_I386NotAllowed_KillsI386Calls()
    {
        Assert.Equal(Kill, Run(X64Only, I386, 20, WithArg(0, 0)));  // i386 getpid
        Assert.Equal(Kill, Run(X64Only, I386, 15, WithArg(1, Mode755)));
    }

    [Theory]
    [InlineData("x86_64", Aarch64)]
    [InlineData("x86_64", Arm)]
    [InlineData("x86_64", 0u)]
    [InlineData("x86_64i386", Arm)]
    [InlineData("aarch64", X86_64)]
    [InlineData("aarch64", I386)]
    [InlineData("aarch64", Arm)]
    public void Build_ForeignArchitecture_KillsProcess(string arch, uint auditArch)
    {
        Assert.Equal(Kill, Run(ProgramFor(arch), auditArch, 39, WithArg(0, 0)));
        Assert.Equal(Kill, Run(ProgramFor(arch), auditArch, 0, WithArg(0, 0)));
    }

    [Fact]
    public void ForWorker_I686InSystems_AdmitsI386OnlyThen()
    {
        var with = SeccompFilter.ForWorker(["x86_64-linux", "i686-linux"]);
        var without = SeccompFilter.ForWorker(["x86_64-linux"]);

        Assert.Equal(Kill, Run(without, I386, 20, WithArg(0, 0)));
        if (SeccompFilter.Native == SeccompArch.X86_64)
            Assert.Equal(Eperm, Run(with, I386, 15, WithArg(1, SetUid | Mode755)));
        else
            Assert.Equal(Kill, Run(with, I386, 20, WithArg(0, 0)));
    }

    [Fact]
    public void Build_Aarch64WithI386_Throws()
    {
        Assert.Throws<ArgumentException>(() => SeccompFilter.Build(SeccompArch.Aarch64, allowI386: true));
    }

    [Theory]
    [InlineData("x86_64")]
    [InlineData("x86_64i386")]
    [InlineData("aarch64")]
    public void Build_AnyArch_WellFormedProgramThatChecksArchFirst(string arch)
    {
        var code = ClassicBpf.Decode(ProgramFor(arch));

        Assert.InRange(code.Length, 1, 4096);
        Assert.Equal(new ClassicBpf.Instruction(0x20, 0, 0, 4), code[0]); // ld [4]: seccomp_data.arch
        Assert.Equal(0x06, code[^1].Code);                                // ends in a return
        for (var pc = 0; pc < code.Length; pc++)
        {
            var insn = code[pc];
            switch (insn.Code)
            {
                case 0x15 or 0x45:
                    Assert.InRange(pc + 1 + insn.Jt, pc + 1, code.Length - 1);
                    Assert.InRange(pc + 1 + insn.Jf, pc + 1, code.Length - 1);
                    break;
                case 0x05:
                    Assert.InRange(pc + 1L + insn.K, pc + 1, code.Length - 1);
                    break;
                case 0x20:
                    Assert.True(insn.K is 0 or 4 || (insn.K >= 16 && insn.K < 64 && insn.K % 8 == 0), $"load at {pc} of {insn.K}");
                    break;
                default:
                    Assert.Equal(0x06, insn.Code);
                    break;
            }
        }
    }

    private static byte[] ProgramFor(string arch) => arch switch
    {
        "x86_64" => X64Only,
        "x86_64i386" or "i386" => X64WithI386,
        "aarch64" => Arm64,
        _ => throw new ArgumentOutOfRangeException(nameof(arch), arch, null),
    };

    private static uint Run(byte[] program, uint arch, int nr, ulong[] args) => ClassicBpf.Run(program, arch, nr, args);

    private static ulong[] WithArg(int index, ulong value, ulong others = 0)
    {
        var args = Enumerable.Repeat(others, 6).ToArray();
        args[index] = value;
        return args;
    }
}

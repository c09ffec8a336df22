using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace BuildFarm.Worker.Sandbox;

/// <summary>The machine a worker runs on, as the seccomp filter sees it.</summary>
internal enum SeccompArch
{
    X86_64,
    Aarch64,
}

/// <summary>
/// Generates the classic-BPF seccomp program a build runs under, in the form bubblewrap's <c>--seccomp FD</c> reads:
/// the raw <c>struct sock_filter</c> array (8 bytes per instruction: little-endian u16 code, u8 jt, u8 jf, u32 k).
/// <para>
/// What it refuses, and why it is at least as strict as Nix 2.8's <c>setupSeccomp</c> (docs/SECURITY.md#seccomp-filter):
/// chmod/fchmod/fchmodat/fchmodat2 with S_ISUID or S_ISGID in the mode (EPERM); setxattr/lsetxattr/fsetxattr/setxattrat
/// (ENOTSUP: a NAR cannot hold extended attributes or ACLs); and, as defence in depth, calls a builder never needs whose
/// kernel state is not namespaced (keyrings, bpf, userfaultfd, kexec, modules, reboot, swap, acct: EPERM). Everything
/// else is allowed. ptrace, perf_event_open and io_uring stay allowed on purpose: real test suites use them (gdb and
/// strace tests, profilers, async I/O runtimes), and the namespaces already confine them to the build's own processes.
/// </para>
/// </summary>
internal static class SeccompFilter
{
    // struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }, little-endian on both
    // supported machines, so the low word of args[i] is at 16 + 8i.
    private const uint OffsetNr = 0;
    private const uint OffsetArch = 4;
    private const uint OffsetArgs = 16;

    /// <summary>__X32_SYSCALL_BIT: an x86_64 task making an x32-ABI call sets it in the number.</summary>
    internal const uint X32SyscallBit = 0x40000000;

    /// <summary>S_ISUID (04000) | S_ISGID (02000).</summary>
    internal const uint SetIdModeBits = 0xC00;

    internal const uint RetKillProcess = 0x80000000;
    internal const uint RetErrno = 0x00050000;
    internal const uint RetAllow = 0x7FFF0000;

    /// <summary>BPF_MAXINSNS: the kernel refuses longer classic programs.</summary>
    internal const int MaxInstructions = 4096;

    private const ushort LdWAbs = 0x20;   // BPF_LD | BPF_W | BPF_ABS
    private const ushort JmpJa = 0x05;    // BPF_JMP | BPF_JA
    private const ushort JmpJeqK = 0x15;  // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort JmpJsetK = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    private const ushort RetK = 0x06;     // BPF_RET | BPF_K

    /// <summary>The architecture this process runs on; the filter is only built for machines the worker supports.</summary>
    public static SeccompArch Native => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => SeccompArch.X86_64,
        Architecture.Arm64 => SeccompArch.Aarch64,
        var other => throw new PlatformNotSupportedException(
            $"no seccomp filter for {other} workers: the sandbox supports x86_64 and aarch64 only"),
    };

    /// <summary>
    /// The program for this machine and the systems the worker builds: i386 calls are admitted only on an x86_64
    /// worker that offers <c>i686-linux</c> (there, Nix-style, a 32-bit builder runs natively).
    /// </summary>
    public static byte[] ForWorker(IEnumerable<string> systems)
    {
        var native = Native;
        return Build(native, allowI386: native == SeccompArch.X86_64 && systems.Contains("i686-linux", StringComparer.Ordinal));
    }

    /// <summary>
    /// The program for a worker on <paramref name="native"/>; <paramref name="allowI386"/> (x86_64 only: a worker that
    /// builds i686-linux) also admits i386 calls, filtered by their own numbers.
    /// <para>
    /// A call from any other architecture kills the process (SECCOMP_RET_KILL_PROCESS), as Nix's libseccomp filter
    /// does. ENOSYS would be the worse choice here: a foreign binary would get ENOSYS for every call, exit included,
    /// and could spin until the build times out; a kill ends it at once with SIGSYS, which the build log shows as
    /// "Bad system call". The x32 ABI, which Nix allows, is refused with ENOSYS per call: that is exactly what
    /// programs see on kernels built or booted without x32 (the common case), so probing code behaves as it does there.
    /// </para>
    /// </summary>
    public static byte[] Build(SeccompArch native, bool allowI386)
    {
        var sections = native switch
        {
            SeccompArch.X86_64 => allowI386
                ? new[] { SeccompSyscallTable.X86_64, SeccompSyscallTable.I386 }
                : [SeccompSyscallTable.X86_64],
            SeccompArch.Aarch64 when allowI386 =>
                throw new ArgumentException("i386 calls can only be allowed on an x86_64 worker", nameof(allowI386)),
            SeccompArch.Aarch64 => [SeccompSyscallTable.Aarch64],
            _ => throw new ArgumentOutOfRangeException(nameof(native), native, "unknown architecture"),
        };

        var asm = new Assembler();
        var entries = sections.Select(_ => new Label()).ToArray();

        // The arch check comes first: syscall numbers mean nothing until we know whose table they index. The long
        // hops to each section are BPF_JA (32-bit offset), so the u8 conditional offsets stay short however many
        // rules a section has.
        asm.Load(OffsetArch);
        for (var i = 0; i < sections.Length; i++)
        {
            var next = new Label();
            asm.JumpIf(JmpJeqK, sections[i].AuditArch, whenFalse: next);
            asm.Jump(entries[i]);
            asm.Bind(next);
        }
        asm.Return(RetKillProcess);

        for (var i = 0; i < sections.Length; i++)
        {
            asm.Bind(entries[i]);
            asm.Load(OffsetNr);
            if (sections[i].AuditArch == SeccompSyscallTable.AuditArchX86_64)
            {
                var native64 = new Label();
                asm.JumpIf(JmpJsetK, X32SyscallBit, whenFalse: native64);
                asm.Return(RetErrno | SeccompSyscallTable.Enosys);
                asm.Bind(native64);
            }
            foreach (var rule in sections[i].Rules)
                EmitRule(asm, rule);
            asm.Return(RetAllow);
        }
        return asm.Assemble();
    }

    /// <summary>One self-contained block per call: a match always returns, a miss falls through with A = nr.</summary>
    private static void EmitRule(Assembler asm, SeccompRule rule)
    {
        var next = new Label();
        asm.JumpIf(JmpJeqK, (uint)rule.Number, whenFalse: next);
        switch (rule)
        {
            case SeccompRule.Deny deny:
                asm.Return(RetErrno | (uint)deny.Errno);
                break;
            case SeccompRule.DenySetIdMode setId:
                var allow = new Label();
                asm.Load(OffsetArgs + (8 * (uint)setId.ModeArg));
                asm.JumpIf(JmpJsetK, SetIdModeBits, whenFalse: allow);
                asm.Return(RetErrno | SeccompSyscallTable.Eperm);
                asm.Bind(allow);
                asm.Return(RetAllow);
                break;
            default:
                throw new InvalidOperationException($"no code for seccomp rule {rule}");
        }
        asm.Bind(next);
    }

    private sealed class Label
    {
        public int Position { get; set; } = -1;
    }

    private readonly record struct Instruction(ushort Code, uint K, Label? WhenTrue = null, Label? WhenFalse = null, Label? Target = null);

    /// <summary>Straight-line code with forward labels, resolved (and range-checked) when assembled.</summary>
    private sealed class Assembler
    {
        private readonly List<Instruction> _code = [];

        public void Load(uint offset) => _code.Add(new(LdWAbs, offset));

        public void Return(uint action) => _code.Add(new(RetK, action));

        public void Jump(Label target) => _code.Add(new(JmpJa, 0, Target: target));

        /// <summary>A conditional jump; a null label means "the next instruction".</summary>
        public void JumpIf(ushort code, uint k, Label? whenTrue = null, Label? whenFalse = null) =>
            _code.Add(new(code, k, whenTrue, whenFalse));

        public void Bind(Label label) => label.Position = _code.Count;

        public byte[] Assemble()
        {
            if (_code.Count > MaxInstructions)
                throw new InvalidOperationException($"seccomp program has {_code.Count} instructions; the kernel takes at most {MaxInstructions}");
            var bytes = new byte[_code.Count * 8];
            for (var i = 0; i < _code.Count; i++)
            {
                var insn = _code[i];
                var k = insn.Target is null ? insn.K : (uint)Offset(i, insn.Target, int.MaxValue);
                var slot = bytes.AsSpan(i * 8, 8);
                BinaryPrimitives.WriteUInt16LittleEndian(slot, insn.Code);
                slot[2] = (byte)Offset(i, insn.WhenTrue, byte.MaxValue);
                slot[3] = (byte)Offset(i, insn.WhenFalse, byte.MaxValue);
                BinaryPrimitives.WriteUInt32LittleEndian(slot[4..], k);
            }
            return bytes;
        }

        private static int Offset(int from, Label? to, int max)
        {
            if (to is null)
                return 0;
            if (to.Position < 0)
                throw new InvalidOperationException($"seccomp jump at {from} to a label that was never bound");
            var offset = to.Position - (from + 1);
            if (offset < 0 || offset > max)
                throw new InvalidOperationException($"seccomp jump at {from} spans {offset} instructions; it must be forward and at most {max}");
            return offset;
        }
    }
}

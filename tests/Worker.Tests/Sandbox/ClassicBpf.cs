using System.Buffers.Binary;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// A tiny classic-BPF interpreter for seccomp programs: only the instructions a seccomp filter of ours may use, each
/// checked the way the kernel's verifier would (aligned in-bounds loads, forward jumps inside the program).
/// </summary>
internal static class ClassicBpf
{
    public const int InstructionSize = 8;

    public readonly record struct Instruction(ushort Code, byte Jt, byte Jf, uint K);

    public static Instruction[] Decode(byte[] program)
    {
        if (program.Length == 0 || program.Length % InstructionSize != 0)
            throw new InvalidDataException($"a sock_filter array is a non-empty multiple of 8 bytes, not {program.Length}");
        var code = new Instruction[program.Length / InstructionSize];
        for (var i = 0; i < code.Length; i++)
        {
            var slot = program.AsSpan(i * InstructionSize, InstructionSize);
            code[i] = new(BinaryPrimitives.ReadUInt16LittleEndian(slot), slot[2], slot[3], BinaryPrimitives.ReadUInt32LittleEndian(slot[4..]));
        }
        return code;
    }

    /// <summary>Runs the filter on one <c>struct seccomp_data</c> and returns the action (SECCOMP_RET_*).</summary>
    public static uint Run(byte[] program, uint arch, int nr, params ulong[] args)
    {
        var data = new byte[64];
        BinaryPrimitives.WriteInt32LittleEndian(data, nr);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4), arch);
        for (var i = 0; i < args.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(16 + (8 * i)), args[i]);

        var code = Decode(program);
        uint a = 0;
        var pc = 0;
        while (true)
        {
            if (pc >= code.Length)
                throw new InvalidDataException($"ran off the end of the program at {pc}");
            var insn = code[pc];
            switch (insn.Code)
            {
                case 0x20: // ld [k]
                    if (insn.K % 4 != 0 || insn.K > data.Length - 4)
                        throw new InvalidDataException($"load at {pc} of offset {insn.K} is outside seccomp_data");
                    a = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan((int)insn.K));
                    pc++;
                    break;
                case 0x05: // ja k
                    pc += 1 + (int)insn.K;
                    break;
                case 0x15: // jeq #k
                    pc += 1 + (a == insn.K ? insn.Jt : insn.Jf);
                    break;
                case 0x45: // jset #k
                    pc += 1 + ((a & insn.K) != 0 ? insn.Jt : insn.Jf);
                    break;
                case 0x06: // ret #k
                    return insn.K;
                default:
                    throw new InvalidDataException($"unexpected opcode 0x{insn.Code:x} at {pc}");
            }
        }
    }
}

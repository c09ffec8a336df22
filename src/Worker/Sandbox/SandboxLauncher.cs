using System.Text;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The sandbox's launcher: a static x86-64 program the worker starts as root, which makes the process bubblewrap
/// runs in, then execs it. Run as <c>LAUNCHER UID GID NPROC FSIZE ARGS SECCOMP EXEC COMMAND PROGRAM [ARG…]</c>, it
/// <list type="number">
/// <item>merges stderr into stdout (one ordered log, as Nix's single pipe) and puts <c>/dev/null</c> on stdin;</item>
/// <item>opens ARGS (bubblewrap's options) on fd 3, SECCOMP (the filter) on fd 4 and EXEC
/// (<see cref="ArgvZeroExec"/>) on fd 5 while it is still root (the files are root's, 0600), and closes everything
/// above 5;</item>
/// <item>sets every signal to its default and unblocks all (.NET ignores SIGPIPE, and an ignored signal survives
/// exec: builders get every signal at its default, as in Nix);</item>
/// <item>sets RLIMIT_NPROC to NPROC, RLIMIT_CORE to 0 and, unless FSIZE is 0, RLIMIT_FSIZE to FSIZE;</item>
/// <item>clears the ambient capabilities and empties the bounding set, drops the supplementary groups, becomes
/// GID and UID (real, effective and saved), clears the inheritable set and sets no_new_privs;</item>
/// <item>execs PROGRAM with ARG… and then the words of COMMAND (NUL-terminated, every byte kept: a derivation's
/// arguments need not be UTF-8, which .NET's process start would require), the environment as given.</item>
/// </list>
/// This is what <c>busybox sh</c>, coreutils <c>env --default-signal</c>, util-linux <c>prlimit</c> and
/// <c>setpriv</c> did one exec after another, for ~3 ms of CPU per build (four programs, three of them dynamically
/// linked); the launcher costs ~0.3 ms (docs/PERFORMANCE.md § Hook). A failure before the exec says which step
/// failed and its errno (<c>buildfarm-sandbox: cannot become the build user (errno 1)</c>) and exits 125: the
/// machine's problem, not the builder's. Other architectures use the shell chain.
/// </summary>
internal static class SandboxLauncher
{
    /// <summary>Machine code, position-independent; assembled from the instructions beside it (GNU as, Intel syntax).</summary>
    private static readonly byte[] Code =
    [
        0x48, 0x89, 0xE3,                         //   0: mov rbx, rsp ; rbx: argc, then argv
        0xBF, 0x01, 0x00, 0x00, 0x00,             //   3: mov edi, 1 ; dup2(1, 2): one ordered log, the launcher's messages included
        0xBE, 0x02, 0x00, 0x00, 0x00,             //   8: mov esi, 2
        0xB8, 0x21, 0x00, 0x00, 0x00,             //   d: mov eax, 33
        0x0F, 0x05,                               //  12: syscall
        0x48, 0x83, 0x3B, 0x0A,                   //  14: cmp qword ptr [rbx], 10 ; UID GID NPROC FSIZE ARGS SECCOMP EXEC COMMAND PROGRAM at least
        0x0F, 0x82, 0xA8, 0x03, 0x00, 0x00,       //  18: jb usage
        0x48, 0x8D, 0x3D, 0x60, 0x04, 0x00, 0x00, //  1e: lea rdi, [rip+devnull] ; /dev/null on 0, the option file on 3, the seccomp program on 4, the exec helper on 5
        0x45, 0x31, 0xFF,                         //  25: xor r15d, r15d
        0xE8, 0xD4, 0x03, 0x00, 0x00,             //  28: call place
        0x48, 0x8B, 0x7B, 0x30,                   //  2d: mov rdi, [rbx+48]
        0x41, 0xBF, 0x03, 0x00, 0x00, 0x00,       //  31: mov r15d, 3
        0xE8, 0xC5, 0x03, 0x00, 0x00,             //  37: call place
        0x48, 0x8B, 0x7B, 0x38,                   //  3c: mov rdi, [rbx+56]
        0x41, 0xBF, 0x04, 0x00, 0x00, 0x00,       //  40: mov r15d, 4
        0xE8, 0xB6, 0x03, 0x00, 0x00,             //  46: call place
        0x48, 0x8B, 0x7B, 0x40,                   //  4b: mov rdi, [rbx+64]
        0x41, 0xBF, 0x05, 0x00, 0x00, 0x00,       //  4f: mov r15d, 5
        0xE8, 0xA7, 0x03, 0x00, 0x00,             //  55: call place
        0xBF, 0x06, 0x00, 0x00, 0x00,             //  5a: mov edi, 6 ; close_range(6, ~0U, 0): nothing else reaches bubblewrap
        0xBE, 0xFF, 0xFF, 0xFF, 0xFF,             //  5f: mov esi, -1
        0x31, 0xD2,                               //  64: xor edx, edx
        0xB8, 0xB4, 0x01, 0x00, 0x00,             //  66: mov eax, 436
        0x0F, 0x05,                               //  6b: syscall
        0x48, 0x81, 0xEC, 0xA0, 0x00, 0x00, 0x00, //  6d: sub rsp, 160 ; scratch: a zeroed sigaction, rlimits, the capability sets, struct stat
        0x31, 0xC0,                               //  74: xor eax, eax
        0x48, 0x89, 0x04, 0x24,                   //  76: mov [rsp], rax
        0x48, 0x89, 0x44, 0x24, 0x08,             //  7a: mov [rsp+8], rax
        0x48, 0x89, 0x44, 0x24, 0x10,             //  7f: mov [rsp+16], rax
        0x48, 0x89, 0x44, 0x24, 0x18,             //  84: mov [rsp+24], rax
        0x41, 0xBC, 0x01, 0x00, 0x00, 0x00,       //  89: mov r12d, 1
        0x44, 0x89, 0xE7,                         //  8f: 1: mov edi, r12d ; rt_sigaction(sig, SIG_DFL): every signal at its default, as in Nix
        0x48, 0x89, 0xE6,                         //  92: mov rsi, rsp
        0x31, 0xD2,                               //  95: xor edx, edx
        0x41, 0xBA, 0x08, 0x00, 0x00, 0x00,       //  97: mov r10d, 8
        0xB8, 0x0D, 0x00, 0x00, 0x00,             //  9d: mov eax, 13
        0x0F, 0x05,                               //  a2: syscall
        0x41, 0xFF, 0xC4,                         //  a4: inc r12d
        0x41, 0x83, 0xFC, 0x40,                   //  a7: cmp r12d, 64
        0x76, 0xE2,                               //  ab: jbe 1b
        0xBF, 0x02, 0x00, 0x00, 0x00,             //  ad: mov edi, 2 ; rt_sigprocmask(SIG_SETMASK, {}): nothing blocked
        0x48, 0x89, 0xE6,                         //  b2: mov rsi, rsp
        0x31, 0xD2,                               //  b5: xor edx, edx
        0x41, 0xBA, 0x08, 0x00, 0x00, 0x00,       //  b7: mov r10d, 8
        0xB8, 0x0E, 0x00, 0x00, 0x00,             //  bd: mov eax, 14
        0x0F, 0x05,                               //  c2: syscall
        0x48, 0x8B, 0x73, 0x20,                   //  c4: mov rsi, [rbx+32] ; RLIMIT_NPROC = NPROC
        0xE8, 0x8D, 0x03, 0x00, 0x00,             //  c8: call number
        0xBF, 0x06, 0x00, 0x00, 0x00,             //  cd: mov edi, 6
        0xE8, 0x64, 0x03, 0x00, 0x00,             //  d2: call limit
        0x31, 0xC0,                               //  d7: xor eax, eax ; RLIMIT_CORE = 0
        0xBF, 0x04, 0x00, 0x00, 0x00,             //  d9: mov edi, 4
        0xE8, 0x58, 0x03, 0x00, 0x00,             //  de: call limit
        0x48, 0x8B, 0x73, 0x28,                   //  e3: mov rsi, [rbx+40] ; RLIMIT_FSIZE = FSIZE unless 0
        0xE8, 0x6E, 0x03, 0x00, 0x00,             //  e7: call number
        0x48, 0x85, 0xC0,                         //  ec: test rax, rax
        0x74, 0x0A,                               //  ef: jz 2f
        0xBF, 0x01, 0x00, 0x00, 0x00,             //  f1: mov edi, 1
        0xE8, 0x40, 0x03, 0x00, 0x00,             //  f6: call limit
        0x48, 0x8B, 0x7B, 0x48,                   //  fb: 2: mov rdi, [rbx+72] ; COMMAND (root's: read before the uid changes): NUL-terminated words, after ARG...
        0x31, 0xF6,                               //  ff: xor esi, esi
        0xB8, 0x02, 0x00, 0x00, 0x00,             // 101: mov eax, 2
        0x0F, 0x05,                               // 106: syscall
        0x85, 0xC0,                               // 108: test eax, eax
        0x0F, 0x88, 0x23, 0x02, 0x00, 0x00,       // 10a: js cmdfail
        0x41, 0x89, 0xC4,                         // 110: mov r12d, eax
        0x89, 0xC7,                               // 113: mov edi, eax ; fstat: its size
        0x48, 0x89, 0xE6,                         // 115: mov rsi, rsp
        0xB8, 0x05, 0x00, 0x00, 0x00,             // 118: mov eax, 5
        0x0F, 0x05,                               // 11d: syscall
        0x85, 0xC0,                               // 11f: test eax, eax
        0x0F, 0x85, 0x0C, 0x02, 0x00, 0x00,       // 121: jnz cmdfail
        0x4C, 0x8B, 0x7C, 0x24, 0x30,             // 127: mov r15, [rsp+48]
        0x31, 0xFF,                               // 12c: xor edi, edi ; mmap(0, size, PROT_READ|PROT_WRITE, MAP_PRIVATE, fd, 0)
        0x4C, 0x89, 0xFE,                         // 12e: mov rsi, r15
        0xBA, 0x03, 0x00, 0x00, 0x00,             // 131: mov edx, 3
        0x41, 0xBA, 0x02, 0x00, 0x00, 0x00,       // 136: mov r10d, 2
        0x45, 0x89, 0xE0,                         // 13c: mov r8d, r12d
        0x45, 0x31, 0xC9,                         // 13f: xor r9d, r9d
        0xB8, 0x09, 0x00, 0x00, 0x00,             // 142: mov eax, 9
        0x0F, 0x05,                               // 147: syscall
        0x48, 0x3D, 0x00, 0xF0, 0xFF, 0xFF,       // 149: cmp rax, -4096
        0x0F, 0x87, 0xDE, 0x01, 0x00, 0x00,       // 14f: ja cmdfail
        0x48, 0x89, 0xC5,                         // 155: mov rbp, rax ; rbp: the words
        0x44, 0x89, 0xE7,                         // 158: mov edi, r12d
        0xB8, 0x03, 0x00, 0x00, 0x00,             // 15b: mov eax, 3
        0x0F, 0x05,                               // 160: syscall
        0x31, 0xC9,                               // 162: xor ecx, ecx ; rcx: how many words
        0x31, 0xD2,                               // 164: xor edx, edx
        0x4C, 0x39, 0xFA,                         // 166: 6: cmp rdx, r15
        0x73, 0x0F,                               // 169: jae 7f
        0x80, 0x7C, 0x15, 0x00, 0x00,             // 16b: cmp byte ptr [rbp+rdx], 0
        0x75, 0x03,                               // 170: jne 8f
        0x48, 0xFF, 0xC1,                         // 172: inc rcx
        0x48, 0xFF, 0xC2,                         // 175: 8: inc rdx
        0xEB, 0xEC,                               // 178: jmp 6b
        0x4C, 0x8B, 0x23,                         // 17a: 7: mov r12, [rbx] ; argv: argv[9..argc) then the words then NULL, in an anonymous mapping
        0x49, 0x83, 0xEC, 0x09,                   // 17d: sub r12, 9
        0x49, 0x8D, 0x74, 0x0C, 0x01,             // 181: lea rsi, [r12+rcx+1]
        0x48, 0xC1, 0xE6, 0x03,                   // 186: shl rsi, 3
        0x31, 0xFF,                               // 18a: xor edi, edi
        0xBA, 0x03, 0x00, 0x00, 0x00,             // 18c: mov edx, 3
        0x41, 0xBA, 0x22, 0x00, 0x00, 0x00,       // 191: mov r10d, 0x22 ; MAP_PRIVATE | MAP_ANONYMOUS
        0x49, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, // 197: mov r8, -1
        0x45, 0x31, 0xC9,                         // 19e: xor r9d, r9d
        0xB8, 0x09, 0x00, 0x00, 0x00,             // 1a1: mov eax, 9
        0x0F, 0x05,                               // 1a6: syscall
        0x48, 0x3D, 0x00, 0xF0, 0xFF, 0xFF,       // 1a8: cmp rax, -4096
        0x0F, 0x87, 0x7F, 0x01, 0x00, 0x00,       // 1ae: ja cmdfail
        0x48, 0x89, 0xC7,                         // 1b4: mov rdi, rax ; rdi: the next slot
        0x49, 0x89, 0xC5,                         // 1b7: mov r13, rax ; r13: the new argv
        0x48, 0x8D, 0x73, 0x50,                   // 1ba: lea rsi, [rbx+80] ; &argv[9]: PROGRAM
        0x4D, 0x85, 0xE4,                         // 1be: 9: test r12, r12
        0x74, 0x13,                               // 1c1: jz 10f
        0x48, 0x8B, 0x06,                         // 1c3: mov rax, [rsi]
        0x48, 0x89, 0x07,                         // 1c6: mov [rdi], rax
        0x48, 0x83, 0xC6, 0x08,                   // 1c9: add rsi, 8
        0x48, 0x83, 0xC7, 0x08,                   // 1cd: add rdi, 8
        0x49, 0xFF, 0xCC,                         // 1d1: dec r12
        0xEB, 0xE8,                               // 1d4: jmp 9b
        0x31, 0xD2,                               // 1d6: 10: xor edx, edx ; rdx: offset; rax: where the current word starts
        0x48, 0x89, 0xE8,                         // 1d8: mov rax, rbp
        0x4C, 0x39, 0xFA,                         // 1db: 11: cmp rdx, r15
        0x73, 0x18,                               // 1de: jae 12f
        0x80, 0x7C, 0x15, 0x00, 0x00,             // 1e0: cmp byte ptr [rbp+rdx], 0
        0x75, 0x0C,                               // 1e5: jne 13f
        0x48, 0x89, 0x07,                         // 1e7: mov [rdi], rax
        0x48, 0x83, 0xC7, 0x08,                   // 1ea: add rdi, 8
        0x48, 0x8D, 0x44, 0x15, 0x01,             // 1ee: lea rax, [rbp+rdx+1]
        0x48, 0xFF, 0xC2,                         // 1f3: 13: inc rdx
        0xEB, 0xE3,                               // 1f6: jmp 11b
        0x48, 0xC7, 0x07, 0x00, 0x00, 0x00, 0x00, // 1f8: 12: mov qword ptr [rdi], 0
        0x4C, 0x89, 0xED,                         // 1ff: mov rbp, r13 ; rbp: the new argv
        0x48, 0x8B, 0x73, 0x10,                   // 202: mov rsi, [rbx+16]
        0xE8, 0x4F, 0x02, 0x00, 0x00,             // 206: call number
        0x49, 0x89, 0xC5,                         // 20b: mov r13, rax ; uid
        0x48, 0x8B, 0x73, 0x18,                   // 20e: mov rsi, [rbx+24]
        0xE8, 0x43, 0x02, 0x00, 0x00,             // 212: call number
        0x49, 0x89, 0xC6,                         // 217: mov r14, rax ; gid
        0xBF, 0x2F, 0x00, 0x00, 0x00,             // 21a: mov edi, 47 ; prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        0xBE, 0x04, 0x00, 0x00, 0x00,             // 21f: mov esi, 4
        0x31, 0xD2,                               // 224: xor edx, edx
        0x45, 0x31, 0xD2,                         // 226: xor r10d, r10d
        0x45, 0x31, 0xC0,                         // 229: xor r8d, r8d
        0xB8, 0x9D, 0x00, 0x00, 0x00,             // 22c: mov eax, 157
        0x0F, 0x05,                               // 231: syscall
        0x45, 0x31, 0xE4,                         // 233: xor r12d, r12d
        0xBF, 0x18, 0x00, 0x00, 0x00,             // 236: 3: mov edi, 24 ; prctl(PR_CAPBSET_DROP, cap) for every capability the kernel knows
        0x44, 0x89, 0xE6,                         // 23b: mov esi, r12d
        0x31, 0xD2,                               // 23e: xor edx, edx
        0x45, 0x31, 0xD2,                         // 240: xor r10d, r10d
        0x45, 0x31, 0xC0,                         // 243: xor r8d, r8d
        0xB8, 0x9D, 0x00, 0x00, 0x00,             // 246: mov eax, 157
        0x0F, 0x05,                               // 24b: syscall
        0x85, 0xC0,                               // 24d: test eax, eax
        0x75, 0x0B,                               // 24f: jnz 4f
        0x41, 0xFF, 0xC4,                         // 251: inc r12d
        0x41, 0x83, 0xFC, 0x40,                   // 254: cmp r12d, 64
        0x72, 0xDC,                               // 258: jb 3b
        0xEB, 0x12,                               // 25a: jmp 5f
        0x83, 0xF8, 0xEA,                         // 25c: 4: cmp eax, -22 ; EINVAL: past the last one
        0x0F, 0x85, 0xBC, 0x00, 0x00, 0x00,       // 25f: jne privfail
        0x45, 0x85, 0xE4,                         // 265: test r12d, r12d
        0x0F, 0x84, 0xB3, 0x00, 0x00, 0x00,       // 268: jz privfail
        0x31, 0xFF,                               // 26e: 5: xor edi, edi ; setgroups(0, NULL)
        0x31, 0xF6,                               // 270: xor esi, esi
        0xB8, 0x74, 0x00, 0x00, 0x00,             // 272: mov eax, 116
        0x0F, 0x05,                               // 277: syscall
        0x85, 0xC0,                               // 279: test eax, eax
        0x0F, 0x85, 0xA0, 0x00, 0x00, 0x00,       // 27b: jnz privfail
        0x4C, 0x89, 0xF7,                         // 281: mov rdi, r14 ; setresgid(gid, gid, gid)
        0x4C, 0x89, 0xF6,                         // 284: mov rsi, r14
        0x4C, 0x89, 0xF2,                         // 287: mov rdx, r14
        0xB8, 0x77, 0x00, 0x00, 0x00,             // 28a: mov eax, 119
        0x0F, 0x05,                               // 28f: syscall
        0x85, 0xC0,                               // 291: test eax, eax
        0x0F, 0x85, 0x88, 0x00, 0x00, 0x00,       // 293: jnz privfail
        0x4C, 0x89, 0xEF,                         // 299: mov rdi, r13 ; setresuid(uid, uid, uid): the permitted and effective sets go with root
        0x4C, 0x89, 0xEE,                         // 29c: mov rsi, r13
        0x4C, 0x89, 0xEA,                         // 29f: mov rdx, r13
        0xB8, 0x75, 0x00, 0x00, 0x00,             // 2a2: mov eax, 117
        0x0F, 0x05,                               // 2a7: syscall
        0x85, 0xC0,                               // 2a9: test eax, eax
        0x75, 0x74,                               // 2ab: jnz privfail
        0xC7, 0x04, 0x24, 0x22, 0x05, 0x08, 0x20, // 2ad: mov dword ptr [rsp], 0x20080522 ; capset(v3, {0}): the inheritable set too
        0x31, 0xC0,                               // 2b4: xor eax, eax
        0x89, 0x44, 0x24, 0x04,                   // 2b6: mov [rsp+4], eax
        0x48, 0x89, 0x44, 0x24, 0x08,             // 2ba: mov [rsp+8], rax
        0x48, 0x89, 0x44, 0x24, 0x10,             // 2bf: mov [rsp+16], rax
        0x48, 0x89, 0x44, 0x24, 0x18,             // 2c4: mov [rsp+24], rax
        0x48, 0x89, 0xE7,                         // 2c9: mov rdi, rsp
        0x48, 0x8D, 0x74, 0x24, 0x08,             // 2cc: lea rsi, [rsp+8]
        0xB8, 0x7E, 0x00, 0x00, 0x00,             // 2d1: mov eax, 126
        0x0F, 0x05,                               // 2d6: syscall
        0x85, 0xC0,                               // 2d8: test eax, eax
        0x75, 0x45,                               // 2da: jnz privfail
        0xBF, 0x26, 0x00, 0x00, 0x00,             // 2dc: mov edi, 38 ; prctl(PR_SET_NO_NEW_PRIVS, 1)
        0xBE, 0x01, 0x00, 0x00, 0x00,             // 2e1: mov esi, 1
        0x31, 0xD2,                               // 2e6: xor edx, edx
        0x45, 0x31, 0xD2,                         // 2e8: xor r10d, r10d
        0x45, 0x31, 0xC0,                         // 2eb: xor r8d, r8d
        0xB8, 0x9D, 0x00, 0x00, 0x00,             // 2ee: mov eax, 157
        0x0F, 0x05,                               // 2f3: syscall
        0x85, 0xC0,                               // 2f5: test eax, eax
        0x75, 0x28,                               // 2f7: jnz privfail
        0x48, 0x8B, 0x7D, 0x00,                   // 2f9: mov rdi, [rbp] ; execve(PROGRAM, argv, envp): the environment as the worker gave it
        0x48, 0x89, 0xEE,                         // 2fd: mov rsi, rbp
        0x48, 0x8B, 0x0B,                         // 300: mov rcx, [rbx]
        0x48, 0x8D, 0x54, 0xCB, 0x10,             // 303: lea rdx, [rbx+rcx*8+16]
        0xB8, 0x3B, 0x00, 0x00, 0x00,             // 308: mov eax, 59
        0x0F, 0x05,                               // 30d: syscall
        0xF7, 0xD8,                               // 30f: neg eax
        0x89, 0xC3,                               // 311: mov ebx, eax
        0x48, 0x8D, 0x35, 0x49, 0x02, 0x00, 0x00, // 313: lea rsi, [rip+m_exec]
        0xBA, 0x19, 0x00, 0x00, 0x00,             // 31a: mov edx, m_exec_end - m_exec
        0xEB, 0x46,                               // 31f: jmp die
        0xF7, 0xD8,                               // 321: neg eax
        0x89, 0xC3,                               // 323: mov ebx, eax
        0x48, 0x8D, 0x35, 0xFA, 0x01, 0x00, 0x00, // 325: lea rsi, [rip+m_priv]
        0xBA, 0x1C, 0x00, 0x00, 0x00,             // 32c: mov edx, m_priv_end - m_priv
        0xEB, 0x34,                               // 331: jmp die
        0xF7, 0xD8,                               // 333: neg eax
        0x89, 0xC3,                               // 335: mov ebx, eax
        0x48, 0x8D, 0x35, 0x04, 0x02, 0x00, 0x00, // 337: lea rsi, [rip+m_cmd]
        0xBA, 0x21, 0x00, 0x00, 0x00,             // 33e: mov edx, m_cmd_end - m_cmd
        0xEB, 0x22,                               // 343: jmp die
        0xF7, 0xD8,                               // 345: neg eax
        0x89, 0xC3,                               // 347: mov ebx, eax
        0x48, 0x8D, 0x35, 0xB9, 0x01, 0x00, 0x00, // 349: lea rsi, [rip+m_limit]
        0xBA, 0x1D, 0x00, 0x00, 0x00,             // 350: mov edx, m_limit_end - m_limit
        0xEB, 0x10,                               // 355: jmp die
        0xF7, 0xD8,                               // 357: neg eax
        0x89, 0xC3,                               // 359: mov ebx, eax
        0x48, 0x8D, 0x35, 0x86, 0x01, 0x00, 0x00, // 35b: lea rsi, [rip+m_open]
        0xBA, 0x21, 0x00, 0x00, 0x00,             // 362: mov edx, m_open_end - m_open
        0x48, 0x83, 0xEC, 0x40,                   // 367: sub rsp, 64
        0x56,                                     // 36b: push rsi
        0x52,                                     // 36c: push rdx
        0x48, 0x8D, 0x35, 0x1B, 0x01, 0x00, 0x00, // 36d: lea rsi, [rip+m_prefix]
        0xBA, 0x13, 0x00, 0x00, 0x00,             // 374: mov edx, m_prefix_end - m_prefix
        0xE8, 0x76, 0x00, 0x00, 0x00,             // 379: call write2
        0x5A,                                     // 37e: pop rdx
        0x5E,                                     // 37f: pop rsi
        0xE8, 0x6F, 0x00, 0x00, 0x00,             // 380: call write2
        0x48, 0x8D, 0x35, 0xF0, 0x01, 0x00, 0x00, // 385: lea rsi, [rip+m_errno]
        0xBA, 0x08, 0x00, 0x00, 0x00,             // 38c: mov edx, m_errno_end - m_errno
        0xE8, 0x5E, 0x00, 0x00, 0x00,             // 391: call write2
        0x48, 0x8D, 0x74, 0x24, 0x3E,             // 396: lea rsi, [rsp+62] ; the number, written backwards, then ")\n"
        0x66, 0xC7, 0x06, 0x29, 0x0A,             // 39b: mov word ptr [rsi], 0x0a29
        0x89, 0xD8,                               // 3a0: mov eax, ebx
        0xB9, 0x0A, 0x00, 0x00, 0x00,             // 3a2: mov ecx, 10
        0x31, 0xD2,                               // 3a7: 14: xor edx, edx
        0xF7, 0xF1,                               // 3a9: div ecx
        0x80, 0xC2, 0x30,                         // 3ab: add dl, '0'
        0x48, 0xFF, 0xCE,                         // 3ae: dec rsi
        0x88, 0x16,                               // 3b1: mov [rsi], dl
        0x85, 0xC0,                               // 3b3: test eax, eax
        0x75, 0xF0,                               // 3b5: jnz 14b
        0x48, 0x8D, 0x54, 0x24, 0x40,             // 3b7: lea rdx, [rsp+64]
        0x48, 0x29, 0xF2,                         // 3bc: sub rdx, rsi
        0xE8, 0x30, 0x00, 0x00, 0x00,             // 3bf: call write2
        0xEB, 0x22,                               // 3c4: jmp exit125
        0x48, 0x8D, 0x35, 0xC2, 0x00, 0x00, 0x00, // 3c6: lea rsi, [rip+m_prefix]
        0xBA, 0x13, 0x00, 0x00, 0x00,             // 3cd: mov edx, m_prefix_end - m_prefix
        0xE8, 0x1D, 0x00, 0x00, 0x00,             // 3d2: call write2
        0x48, 0x8D, 0x35, 0xC4, 0x00, 0x00, 0x00, // 3d7: lea rsi, [rip+m_usage]
        0xBA, 0x46, 0x00, 0x00, 0x00,             // 3de: mov edx, m_usage_end - m_usage
        0xE8, 0x0C, 0x00, 0x00, 0x00,             // 3e3: call write2
        0xBF, 0x7D, 0x00, 0x00, 0x00,             // 3e8: mov edi, 125
        0xB8, 0xE7, 0x00, 0x00, 0x00,             // 3ed: mov eax, 231
        0x0F, 0x05,                               // 3f2: syscall
        0xBF, 0x02, 0x00, 0x00, 0x00,             // 3f4: mov edi, 2
        0xB8, 0x01, 0x00, 0x00, 0x00,             // 3f9: mov eax, 1
        0x0F, 0x05,                               // 3fe: syscall
        0xC3,                                     // 400: ret
        0x31, 0xF6,                               // 401: xor esi, esi
        0x31, 0xD2,                               // 403: xor edx, edx
        0xB8, 0x02, 0x00, 0x00, 0x00,             // 405: mov eax, 2
        0x0F, 0x05,                               // 40a: syscall
        0x85, 0xC0,                               // 40c: test eax, eax
        0x0F, 0x88, 0x43, 0xFF, 0xFF, 0xFF,       // 40e: js openfail
        0x44, 0x39, 0xF8,                         // 414: cmp eax, r15d
        0x74, 0x21,                               // 417: je 15f
        0x41, 0x89, 0xC4,                         // 419: mov r12d, eax
        0x89, 0xC7,                               // 41c: mov edi, eax
        0x44, 0x89, 0xFE,                         // 41e: mov esi, r15d
        0xB8, 0x21, 0x00, 0x00, 0x00,             // 421: mov eax, 33
        0x0F, 0x05,                               // 426: syscall
        0x85, 0xC0,                               // 428: test eax, eax
        0x0F, 0x88, 0x27, 0xFF, 0xFF, 0xFF,       // 42a: js openfail
        0x44, 0x89, 0xE7,                         // 430: mov edi, r12d
        0xB8, 0x03, 0x00, 0x00, 0x00,             // 433: mov eax, 3
        0x0F, 0x05,                               // 438: syscall
        0xC3,                                     // 43a: 15: ret
        0x48, 0x89, 0x44, 0x24, 0x08,             // 43b: mov [rsp+8], rax
        0x48, 0x89, 0x44, 0x24, 0x10,             // 440: mov [rsp+16], rax
        0x48, 0x8D, 0x74, 0x24, 0x08,             // 445: lea rsi, [rsp+8]
        0xB8, 0xA0, 0x00, 0x00, 0x00,             // 44a: mov eax, 160
        0x0F, 0x05,                               // 44f: syscall
        0x85, 0xC0,                               // 451: test eax, eax
        0x0F, 0x85, 0xEC, 0xFE, 0xFF, 0xFF,       // 453: jnz limitfail
        0xC3,                                     // 459: ret
        0x31, 0xC0,                               // 45a: xor eax, eax
        0x80, 0x3E, 0x00,                         // 45c: cmp byte ptr [rsi], 0
        0x0F, 0x84, 0x61, 0xFF, 0xFF, 0xFF,       // 45f: je usage
        0x0F, 0xB6, 0x0E,                         // 465: 16: movzx ecx, byte ptr [rsi]
        0x85, 0xC9,                               // 468: test ecx, ecx
        0x74, 0x18,                               // 46a: jz 17f
        0x83, 0xE9, 0x30,                         // 46c: sub ecx, '0'
        0x83, 0xF9, 0x09,                         // 46f: cmp ecx, 9
        0x0F, 0x87, 0x4E, 0xFF, 0xFF, 0xFF,       // 472: ja usage
        0x48, 0x6B, 0xC0, 0x0A,                   // 478: imul rax, rax, 10
        0x48, 0x01, 0xC8,                         // 47c: add rax, rcx
        0x48, 0xFF, 0xC6,                         // 47f: inc rsi
        0xEB, 0xE1,                               // 482: jmp 16b
        0xC3,                                     // 484: 17: ret
    ];

    /// <summary>The data, right after the code (the <c>lea</c>s above address them relative to rip).</summary>
    private static readonly string[] Data =
    [
        "/dev/null\0", "buildfarm-sandbox: ", "usage: UID GID NPROC FSIZE ARGS SECCOMP EXEC COMMAND PROGRAM [ARG...]\n",
        "cannot open a file of the sandbox", "cannot set the build's limits", "cannot become the build user",
        "cannot read the builder's command", "cannot execute bubblewrap", " (errno ",
    ];

    /// <summary>The prefix of every message of the launcher's own.</summary>
    public const string Name = "buildfarm-sandbox";

    /// <summary>Whether this machine runs the program (x86-64 Linux).</summary>
    public static bool Supported => ArgvZeroExec.Supported;

    /// <summary>The whole ELF file (code, data), built once; a worker's builds share one copy of it (<see cref="SandboxShared"/>).</summary>
    internal static readonly byte[] Program = StaticElf.Build([.. Code, .. Data.SelectMany(Encoding.ASCII.GetBytes)]);

    /// <summary>Writes the program to <paramref name="path"/> (new file, root's: read and execute for its owner only).</summary>
    public static void Write(string path) => StaticElf.Write(path, Program, UnixFileMode.UserRead | UnixFileMode.UserExecute);

    /// <summary>The launcher's arguments before PROGRAM.</summary>
    public static IReadOnlyList<string> Arguments(long uid, long gid, int maxProcesses, long maxFileSize, string args, string seccomp, string exec, string command) =>
        [Decimal(uid), Decimal(gid), Decimal(maxProcesses), Decimal(maxFileSize), args, seccomp, exec, command];

    private static string Decimal(long value) =>
        value >= 0 ? value.ToString(System.Globalization.CultureInfo.InvariantCulture) : throw new ArgumentOutOfRangeException(nameof(value), value, "the launcher takes non-negative numbers");
}

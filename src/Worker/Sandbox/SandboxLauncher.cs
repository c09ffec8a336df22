using System.Text;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The sandbox's launcher: a static x86-64 program the worker starts as root, which makes the process bubblewrap
/// runs in, then execs it. Run as <c>LAUNCHER UID GID NPROC FSIZE ARGS SECCOMP EXEC COMMAND MOUNTNS PROGRAM [ARG…]</c>, it
/// <list type="number">
/// <item>merges stderr into stdout (one ordered log, as Nix's single pipe) and puts <c>/dev/null</c> on stdin;</item>
/// <item>opens ARGS (bubblewrap's options) on fd 3, SECCOMP (the filter) on fd 4 and EXEC
/// (<see cref="ArgvZeroExec"/>) on fd 5 while it is still root (the files are root's, 0600), and closes everything
/// above 5;</item>
/// <item>unless MOUNTNS is empty, joins the mount namespace it names (a <c>/proc/PID/fd/N</c> of the worker's: the one
/// <see cref="StoreView"/> put the build's inputs in), so bubblewrap starts where the closure is already mounted;</item>
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
        0x48, 0x83, 0x3B, 0x0B,                   //  14: cmp qword ptr [rbx], 11 ; UID GID NPROC FSIZE ARGS SECCOMP EXEC COMMAND MOUNTNS PROGRAM at least
        0x0F, 0x82, 0xF9, 0x03, 0x00, 0x00,       //  18: jb usage
        0x48, 0x8D, 0x3D, 0xB1, 0x04, 0x00, 0x00, //  1e: lea rdi, [rip+devnull] ; /dev/null on 0, the option file on 3, the seccomp program on 4, the exec helper on 5
        0x45, 0x31, 0xFF,                         //  25: xor r15d, r15d
        0xE8, 0x25, 0x04, 0x00, 0x00,             //  28: call place
        0x48, 0x8B, 0x7B, 0x30,                   //  2d: mov rdi, [rbx+48]
        0x41, 0xBF, 0x03, 0x00, 0x00, 0x00,       //  31: mov r15d, 3
        0xE8, 0x16, 0x04, 0x00, 0x00,             //  37: call place
        0x48, 0x8B, 0x7B, 0x38,                   //  3c: mov rdi, [rbx+56]
        0x41, 0xBF, 0x04, 0x00, 0x00, 0x00,       //  40: mov r15d, 4
        0xE8, 0x07, 0x04, 0x00, 0x00,             //  46: call place
        0x48, 0x8B, 0x7B, 0x40,                   //  4b: mov rdi, [rbx+64]
        0x41, 0xBF, 0x05, 0x00, 0x00, 0x00,       //  4f: mov r15d, 5
        0xE8, 0xF8, 0x03, 0x00, 0x00,             //  55: call place
        0x48, 0x8B, 0x7B, 0x50,                   //  5a: mov rdi, [rbx+80] ; MOUNTNS unless empty: join the mount namespace that holds the build's inputs
        0x80, 0x3F, 0x00,                         //  5e: cmp byte ptr [rdi], 0
        0x74, 0x36,                               //  61: je 18f
        0x31, 0xF6,                               //  63: xor esi, esi
        0x31, 0xD2,                               //  65: xor edx, edx
        0xB8, 0x02, 0x00, 0x00, 0x00,             //  67: mov eax, 2
        0x0F, 0x05,                               //  6c: syscall
        0x85, 0xC0,                               //  6e: test eax, eax
        0x0F, 0x88, 0x20, 0x03, 0x00, 0x00,       //  70: js nsfail
        0x41, 0x89, 0xC4,                         //  76: mov r12d, eax
        0x89, 0xC7,                               //  79: mov edi, eax ; setns(fd, CLONE_NEWNS)
        0xBE, 0x00, 0x00, 0x02, 0x00,             //  7b: mov esi, 0x20000
        0xB8, 0x34, 0x01, 0x00, 0x00,             //  80: mov eax, 308
        0x0F, 0x05,                               //  85: syscall
        0x85, 0xC0,                               //  87: test eax, eax
        0x0F, 0x85, 0x07, 0x03, 0x00, 0x00,       //  89: jnz nsfail
        0x44, 0x89, 0xE7,                         //  8f: mov edi, r12d
        0xB8, 0x03, 0x00, 0x00, 0x00,             //  92: mov eax, 3
        0x0F, 0x05,                               //  97: syscall
        0xBF, 0x06, 0x00, 0x00, 0x00,             //  99: 18: mov edi, 6 ; close_range(6, ~0U, 0): nothing else reaches bubblewrap
        0xBE, 0xFF, 0xFF, 0xFF, 0xFF,             //  9e: mov esi, -1
        0x31, 0xD2,                               //  a3: xor edx, edx
        0xB8, 0xB4, 0x01, 0x00, 0x00,             //  a5: mov eax, 436
        0x0F, 0x05,                               //  aa: syscall
        0x48, 0x81, 0xEC, 0xA0, 0x00, 0x00, 0x00, //  ac: sub rsp, 160 ; scratch: a zeroed sigaction, rlimits, the capability sets, struct stat
        0x31, 0xC0,                               //  b3: xor eax, eax
        0x48, 0x89, 0x04, 0x24,                   //  b5: mov [rsp], rax
        0x48, 0x89, 0x44, 0x24, 0x08,             //  b9: mov [rsp+8], rax
        0x48, 0x89, 0x44, 0x24, 0x10,             //  be: mov [rsp+16], rax
        0x48, 0x89, 0x44, 0x24, 0x18,             //  c3: mov [rsp+24], rax
        0x41, 0xBC, 0x01, 0x00, 0x00, 0x00,       //  c8: mov r12d, 1
        0x44, 0x89, 0xE7,                         //  ce: 1: mov edi, r12d ; rt_sigaction(sig, SIG_DFL): every signal at its default, as in Nix
        0x48, 0x89, 0xE6,                         //  d1: mov rsi, rsp
        0x31, 0xD2,                               //  d4: xor edx, edx
        0x41, 0xBA, 0x08, 0x00, 0x00, 0x00,       //  d6: mov r10d, 8
        0xB8, 0x0D, 0x00, 0x00, 0x00,             //  dc: mov eax, 13
        0x0F, 0x05,                               //  e1: syscall
        0x41, 0xFF, 0xC4,                         //  e3: inc r12d
        0x41, 0x83, 0xFC, 0x40,                   //  e6: cmp r12d, 64
        0x76, 0xE2,                               //  ea: jbe 1b
        0xBF, 0x02, 0x00, 0x00, 0x00,             //  ec: mov edi, 2 ; rt_sigprocmask(SIG_SETMASK, {}): nothing blocked
        0x48, 0x89, 0xE6,                         //  f1: mov rsi, rsp
        0x31, 0xD2,                               //  f4: xor edx, edx
        0x41, 0xBA, 0x08, 0x00, 0x00, 0x00,       //  f6: mov r10d, 8
        0xB8, 0x0E, 0x00, 0x00, 0x00,             //  fc: mov eax, 14
        0x0F, 0x05,                               // 101: syscall
        0x48, 0x8B, 0x73, 0x20,                   // 103: mov rsi, [rbx+32] ; RLIMIT_NPROC = NPROC
        0xE8, 0x9F, 0x03, 0x00, 0x00,             // 107: call number
        0xBF, 0x06, 0x00, 0x00, 0x00,             // 10c: mov edi, 6
        0xE8, 0x76, 0x03, 0x00, 0x00,             // 111: call limit
        0x31, 0xC0,                               // 116: xor eax, eax ; RLIMIT_CORE = 0
        0xBF, 0x04, 0x00, 0x00, 0x00,             // 118: mov edi, 4
        0xE8, 0x6A, 0x03, 0x00, 0x00,             // 11d: call limit
        0x48, 0x8B, 0x73, 0x28,                   // 122: mov rsi, [rbx+40] ; RLIMIT_FSIZE = FSIZE unless 0
        0xE8, 0x80, 0x03, 0x00, 0x00,             // 126: call number
        0x48, 0x85, 0xC0,                         // 12b: test rax, rax
        0x74, 0x0A,                               // 12e: jz 2f
        0xBF, 0x01, 0x00, 0x00, 0x00,             // 130: mov edi, 1
        0xE8, 0x52, 0x03, 0x00, 0x00,             // 135: call limit
        0x48, 0x8B, 0x7B, 0x48,                   // 13a: 2: mov rdi, [rbx+72] ; COMMAND (root's: read before the uid changes): NUL-terminated words, after ARG...
        0x31, 0xF6,                               // 13e: xor esi, esi
        0xB8, 0x02, 0x00, 0x00, 0x00,             // 140: mov eax, 2
        0x0F, 0x05,                               // 145: syscall
        0x85, 0xC0,                               // 147: test eax, eax
        0x0F, 0x88, 0x23, 0x02, 0x00, 0x00,       // 149: js cmdfail
        0x41, 0x89, 0xC4,                         // 14f: mov r12d, eax
        0x89, 0xC7,                               // 152: mov edi, eax ; fstat: its size
        0x48, 0x89, 0xE6,                         // 154: mov rsi, rsp
        0xB8, 0x05, 0x00, 0x00, 0x00,             // 157: mov eax, 5
        0x0F, 0x05,                               // 15c: syscall
        0x85, 0xC0,                               // 15e: test eax, eax
        0x0F, 0x85, 0x0C, 0x02, 0x00, 0x00,       // 160: jnz cmdfail
        0x4C, 0x8B, 0x7C, 0x24, 0x30,             // 166: mov r15, [rsp+48]
        0x31, 0xFF,                               // 16b: xor edi, edi ; mmap(0, size, PROT_READ|PROT_WRITE, MAP_PRIVATE, fd, 0)
        0x4C, 0x89, 0xFE,                         // 16d: mov rsi, r15
        0xBA, 0x03, 0x00, 0x00, 0x00,             // 170: mov edx, 3
        0x41, 0xBA, 0x02, 0x00, 0x00, 0x00,       // 175: mov r10d, 2
        0x45, 0x89, 0xE0,                         // 17b: mov r8d, r12d
        0x45, 0x31, 0xC9,                         // 17e: xor r9d, r9d
        0xB8, 0x09, 0x00, 0x00, 0x00,             // 181: mov eax, 9
        0x0F, 0x05,                               // 186: syscall
        0x48, 0x3D, 0x00, 0xF0, 0xFF, 0xFF,       // 188: cmp rax, -4096
        0x0F, 0x87, 0xDE, 0x01, 0x00, 0x00,       // 18e: ja cmdfail
        0x48, 0x89, 0xC5,                         // 194: mov rbp, rax ; rbp: the words
        0x44, 0x89, 0xE7,                         // 197: mov edi, r12d
        0xB8, 0x03, 0x00, 0x00, 0x00,             // 19a: mov eax, 3
        0x0F, 0x05,                               // 19f: syscall
        0x31, 0xC9,                               // 1a1: xor ecx, ecx ; rcx: how many words
        0x31, 0xD2,                               // 1a3: xor edx, edx
        0x4C, 0x39, 0xFA,                         // 1a5: 6: cmp rdx, r15
        0x73, 0x0F,                               // 1a8: jae 7f
        0x80, 0x7C, 0x15, 0x00, 0x00,             // 1aa: cmp byte ptr [rbp+rdx], 0
        0x75, 0x03,                               // 1af: jne 8f
        0x48, 0xFF, 0xC1,                         // 1b1: inc rcx
        0x48, 0xFF, 0xC2,                         // 1b4: 8: inc rdx
        0xEB, 0xEC,                               // 1b7: jmp 6b
        0x4C, 0x8B, 0x23,                         // 1b9: 7: mov r12, [rbx] ; argv: argv[10..argc) then the words then NULL, in an anonymous mapping
        0x49, 0x83, 0xEC, 0x0A,                   // 1bc: sub r12, 10
        0x49, 0x8D, 0x74, 0x0C, 0x01,             // 1c0: lea rsi, [r12+rcx+1]
        0x48, 0xC1, 0xE6, 0x03,                   // 1c5: shl rsi, 3
        0x31, 0xFF,                               // 1c9: xor edi, edi
        0xBA, 0x03, 0x00, 0x00, 0x00,             // 1cb: mov edx, 3
        0x41, 0xBA, 0x22, 0x00, 0x00, 0x00,       // 1d0: mov r10d, 0x22 ; MAP_PRIVATE | MAP_ANONYMOUS
        0x49, 0xC7, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, // 1d6: mov r8, -1
        0x45, 0x31, 0xC9,                         // 1dd: xor r9d, r9d
        0xB8, 0x09, 0x00, 0x00, 0x00,             // 1e0: mov eax, 9
        0x0F, 0x05,                               // 1e5: syscall
        0x48, 0x3D, 0x00, 0xF0, 0xFF, 0xFF,       // 1e7: cmp rax, -4096
        0x0F, 0x87, 0x7F, 0x01, 0x00, 0x00,       // 1ed: ja cmdfail
        0x48, 0x89, 0xC7,                         // 1f3: mov rdi, rax ; rdi: the next slot
        0x49, 0x89, 0xC5,                         // 1f6: mov r13, rax ; r13: the new argv
        0x48, 0x8D, 0x73, 0x58,                   // 1f9: lea rsi, [rbx+88] ; &argv[10]: PROGRAM
        0x4D, 0x85, 0xE4,                         // 1fd: 9: test r12, r12
        0x74, 0x13,                               // 200: jz 10f
        0x48, 0x8B, 0x06,                         // 202: mov rax, [rsi]
        0x48, 0x89, 0x07,                         // 205: mov [rdi], rax
        0x48, 0x83, 0xC6, 0x08,                   // 208: add rsi, 8
        0x48, 0x83, 0xC7, 0x08,                   // 20c: add rdi, 8
        0x49, 0xFF, 0xCC,                         // 210: dec r12
        0xEB, 0xE8,                               // 213: jmp 9b
        0x31, 0xD2,                               // 215: 10: xor edx, edx ; rdx: offset; rax: where the current word starts
        0x48, 0x89, 0xE8,                         // 217: mov rax, rbp
        0x4C, 0x39, 0xFA,                         // 21a: 11: cmp rdx, r15
        0x73, 0x18,                               // 21d: jae 12f
        0x80, 0x7C, 0x15, 0x00, 0x00,             // 21f: cmp byte ptr [rbp+rdx], 0
        0x75, 0x0C,                               // 224: jne 13f
        0x48, 0x89, 0x07,                         // 226: mov [rdi], rax
        0x48, 0x83, 0xC7, 0x08,                   // 229: add rdi, 8
        0x48, 0x8D, 0x44, 0x15, 0x01,             // 22d: lea rax, [rbp+rdx+1]
        0x48, 0xFF, 0xC2,                         // 232: 13: inc rdx
        0xEB, 0xE3,                               // 235: jmp 11b
        0x48, 0xC7, 0x07, 0x00, 0x00, 0x00, 0x00, // 237: 12: mov qword ptr [rdi], 0
        0x4C, 0x89, 0xED,                         // 23e: mov rbp, r13 ; rbp: the new argv
        0x48, 0x8B, 0x73, 0x10,                   // 241: mov rsi, [rbx+16]
        0xE8, 0x61, 0x02, 0x00, 0x00,             // 245: call number
        0x49, 0x89, 0xC5,                         // 24a: mov r13, rax ; uid
        0x48, 0x8B, 0x73, 0x18,                   // 24d: mov rsi, [rbx+24]
        0xE8, 0x55, 0x02, 0x00, 0x00,             // 251: call number
        0x49, 0x89, 0xC6,                         // 256: mov r14, rax ; gid
        0xBF, 0x2F, 0x00, 0x00, 0x00,             // 259: mov edi, 47 ; prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        0xBE, 0x04, 0x00, 0x00, 0x00,             // 25e: mov esi, 4
        0x31, 0xD2,                               // 263: xor edx, edx
        0x45, 0x31, 0xD2,                         // 265: xor r10d, r10d
        0x45, 0x31, 0xC0,                         // 268: xor r8d, r8d
        0xB8, 0x9D, 0x00, 0x00, 0x00,             // 26b: mov eax, 157
        0x0F, 0x05,                               // 270: syscall
        0x45, 0x31, 0xE4,                         // 272: xor r12d, r12d
        0xBF, 0x18, 0x00, 0x00, 0x00,             // 275: 3: mov edi, 24 ; prctl(PR_CAPBSET_DROP, cap) for every capability the kernel knows
        0x44, 0x89, 0xE6,                         // 27a: mov esi, r12d
        0x31, 0xD2,                               // 27d: xor edx, edx
        0x45, 0x31, 0xD2,                         // 27f: xor r10d, r10d
        0x45, 0x31, 0xC0,                         // 282: xor r8d, r8d
        0xB8, 0x9D, 0x00, 0x00, 0x00,             // 285: mov eax, 157
        0x0F, 0x05,                               // 28a: syscall
        0x85, 0xC0,                               // 28c: test eax, eax
        0x75, 0x0B,                               // 28e: jnz 4f
        0x41, 0xFF, 0xC4,                         // 290: inc r12d
        0x41, 0x83, 0xFC, 0x40,                   // 293: cmp r12d, 64
        0x72, 0xDC,                               // 297: jb 3b
        0xEB, 0x12,                               // 299: jmp 5f
        0x83, 0xF8, 0xEA,                         // 29b: 4: cmp eax, -22 ; EINVAL: past the last one
        0x0F, 0x85, 0xBC, 0x00, 0x00, 0x00,       // 29e: jne privfail
        0x45, 0x85, 0xE4,                         // 2a4: test r12d, r12d
        0x0F, 0x84, 0xB3, 0x00, 0x00, 0x00,       // 2a7: jz privfail
        0x31, 0xFF,                               // 2ad: 5: xor edi, edi ; setgroups(0, NULL)
        0x31, 0xF6,                               // 2af: xor esi, esi
        0xB8, 0x74, 0x00, 0x00, 0x00,             // 2b1: mov eax, 116
        0x0F, 0x05,                               // 2b6: syscall
        0x85, 0xC0,                               // 2b8: test eax, eax
        0x0F, 0x85, 0xA0, 0x00, 0x00, 0x00,       // 2ba: jnz privfail
        0x4C, 0x89, 0xF7,                         // 2c0: mov rdi, r14 ; setresgid(gid, gid, gid)
        0x4C, 0x89, 0xF6,                         // 2c3: mov rsi, r14
        0x4C, 0x89, 0xF2,                         // 2c6: mov rdx, r14
        0xB8, 0x77, 0x00, 0x00, 0x00,             // 2c9: mov eax, 119
        0x0F, 0x05,                               // 2ce: syscall
        0x85, 0xC0,                               // 2d0: test eax, eax
        0x0F, 0x85, 0x88, 0x00, 0x00, 0x00,       // 2d2: jnz privfail
        0x4C, 0x89, 0xEF,                         // 2d8: mov rdi, r13 ; setresuid(uid, uid, uid): the permitted and effective sets go with root
        0x4C, 0x89, 0xEE,                         // 2db: mov rsi, r13
        0x4C, 0x89, 0xEA,                         // 2de: mov rdx, r13
        0xB8, 0x75, 0x00, 0x00, 0x00,             // 2e1: mov eax, 117
        0x0F, 0x05,                               // 2e6: syscall
        0x85, 0xC0,                               // 2e8: test eax, eax
        0x75, 0x74,                               // 2ea: jnz privfail
        0xC7, 0x04, 0x24, 0x22, 0x05, 0x08, 0x20, // 2ec: mov dword ptr [rsp], 0x20080522 ; capset(v3, {0}): the inheritable set too
        0x31, 0xC0,                               // 2f3: xor eax, eax
        0x89, 0x44, 0x24, 0x04,                   // 2f5: mov [rsp+4], eax
        0x48, 0x89, 0x44, 0x24, 0x08,             // 2f9: mov [rsp+8], rax
        0x48, 0x89, 0x44, 0x24, 0x10,             // 2fe: mov [rsp+16], rax
        0x48, 0x89, 0x44, 0x24, 0x18,             // 303: mov [rsp+24], rax
        0x48, 0x89, 0xE7,                         // 308: mov rdi, rsp
        0x48, 0x8D, 0x74, 0x24, 0x08,             // 30b: lea rsi, [rsp+8]
        0xB8, 0x7E, 0x00, 0x00, 0x00,             // 310: mov eax, 126
        0x0F, 0x05,                               // 315: syscall
        0x85, 0xC0,                               // 317: test eax, eax
        0x75, 0x45,                               // 319: jnz privfail
        0xBF, 0x26, 0x00, 0x00, 0x00,             // 31b: mov edi, 38 ; prctl(PR_SET_NO_NEW_PRIVS, 1)
        0xBE, 0x01, 0x00, 0x00, 0x00,             // 320: mov esi, 1
        0x31, 0xD2,                               // 325: xor edx, edx
        0x45, 0x31, 0xD2,                         // 327: xor r10d, r10d
        0x45, 0x31, 0xC0,                         // 32a: xor r8d, r8d
        0xB8, 0x9D, 0x00, 0x00, 0x00,             // 32d: mov eax, 157
        0x0F, 0x05,                               // 332: syscall
        0x85, 0xC0,                               // 334: test eax, eax
        0x75, 0x28,                               // 336: jnz privfail
        0x48, 0x8B, 0x7D, 0x00,                   // 338: mov rdi, [rbp] ; execve(PROGRAM, argv, envp): the environment as the worker gave it
        0x48, 0x89, 0xEE,                         // 33c: mov rsi, rbp
        0x48, 0x8B, 0x0B,                         // 33f: mov rcx, [rbx]
        0x48, 0x8D, 0x54, 0xCB, 0x10,             // 342: lea rdx, [rbx+rcx*8+16]
        0xB8, 0x3B, 0x00, 0x00, 0x00,             // 347: mov eax, 59
        0x0F, 0x05,                               // 34c: syscall
        0xF7, 0xD8,                               // 34e: neg eax
        0x89, 0xC3,                               // 350: mov ebx, eax
        0x48, 0x8D, 0x35, 0x63, 0x02, 0x00, 0x00, // 352: lea rsi, [rip+m_exec]
        0xBA, 0x19, 0x00, 0x00, 0x00,             // 359: mov edx, m_exec_end - m_exec
        0xEB, 0x58,                               // 35e: jmp die
        0xF7, 0xD8,                               // 360: neg eax
        0x89, 0xC3,                               // 362: mov ebx, eax
        0x48, 0x8D, 0x35, 0x14, 0x02, 0x00, 0x00, // 364: lea rsi, [rip+m_priv]
        0xBA, 0x1C, 0x00, 0x00, 0x00,             // 36b: mov edx, m_priv_end - m_priv
        0xEB, 0x46,                               // 370: jmp die
        0xF7, 0xD8,                               // 372: neg eax
        0x89, 0xC3,                               // 374: mov ebx, eax
        0x48, 0x8D, 0x35, 0x1E, 0x02, 0x00, 0x00, // 376: lea rsi, [rip+m_cmd]
        0xBA, 0x21, 0x00, 0x00, 0x00,             // 37d: mov edx, m_cmd_end - m_cmd
        0xEB, 0x34,                               // 382: jmp die
        0xF7, 0xD8,                               // 384: neg eax
        0x89, 0xC3,                               // 386: mov ebx, eax
        0x48, 0x8D, 0x35, 0xD3, 0x01, 0x00, 0x00, // 388: lea rsi, [rip+m_limit]
        0xBA, 0x1D, 0x00, 0x00, 0x00,             // 38f: mov edx, m_limit_end - m_limit
        0xEB, 0x22,                               // 394: jmp die
        0xF7, 0xD8,                               // 396: neg eax
        0x89, 0xC3,                               // 398: mov ebx, eax
        0x48, 0x8D, 0x35, 0x34, 0x02, 0x00, 0x00, // 39a: lea rsi, [rip+m_ns]
        0xBA, 0x27, 0x00, 0x00, 0x00,             // 3a1: mov edx, m_ns_end - m_ns
        0xEB, 0x10,                               // 3a6: jmp die
        0xF7, 0xD8,                               // 3a8: neg eax
        0x89, 0xC3,                               // 3aa: mov ebx, eax
        0x48, 0x8D, 0x35, 0x8E, 0x01, 0x00, 0x00, // 3ac: lea rsi, [rip+m_open]
        0xBA, 0x21, 0x00, 0x00, 0x00,             // 3b3: mov edx, m_open_end - m_open
        0x48, 0x83, 0xEC, 0x40,                   // 3b8: sub rsp, 64
        0x56,                                     // 3bc: push rsi
        0x52,                                     // 3bd: push rdx
        0x48, 0x8D, 0x35, 0x1B, 0x01, 0x00, 0x00, // 3be: lea rsi, [rip+m_prefix]
        0xBA, 0x13, 0x00, 0x00, 0x00,             // 3c5: mov edx, m_prefix_end - m_prefix
        0xE8, 0x76, 0x00, 0x00, 0x00,             // 3ca: call write2
        0x5A,                                     // 3cf: pop rdx
        0x5E,                                     // 3d0: pop rsi
        0xE8, 0x6F, 0x00, 0x00, 0x00,             // 3d1: call write2
        0x48, 0x8D, 0x35, 0x1F, 0x02, 0x00, 0x00, // 3d6: lea rsi, [rip+m_errno]
        0xBA, 0x08, 0x00, 0x00, 0x00,             // 3dd: mov edx, m_errno_end - m_errno
        0xE8, 0x5E, 0x00, 0x00, 0x00,             // 3e2: call write2
        0x48, 0x8D, 0x74, 0x24, 0x3E,             // 3e7: lea rsi, [rsp+62] ; the number, written backwards, then ")\n"
        0x66, 0xC7, 0x06, 0x29, 0x0A,             // 3ec: mov word ptr [rsi], 0x0a29
        0x89, 0xD8,                               // 3f1: mov eax, ebx
        0xB9, 0x0A, 0x00, 0x00, 0x00,             // 3f3: mov ecx, 10
        0x31, 0xD2,                               // 3f8: 14: xor edx, edx
        0xF7, 0xF1,                               // 3fa: div ecx
        0x80, 0xC2, 0x30,                         // 3fc: add dl, '0'
        0x48, 0xFF, 0xCE,                         // 3ff: dec rsi
        0x88, 0x16,                               // 402: mov [rsi], dl
        0x85, 0xC0,                               // 404: test eax, eax
        0x75, 0xF0,                               // 406: jnz 14b
        0x48, 0x8D, 0x54, 0x24, 0x40,             // 408: lea rdx, [rsp+64]
        0x48, 0x29, 0xF2,                         // 40d: sub rdx, rsi
        0xE8, 0x30, 0x00, 0x00, 0x00,             // 410: call write2
        0xEB, 0x22,                               // 415: jmp exit125
        0x48, 0x8D, 0x35, 0xC2, 0x00, 0x00, 0x00, // 417: lea rsi, [rip+m_prefix]
        0xBA, 0x13, 0x00, 0x00, 0x00,             // 41e: mov edx, m_prefix_end - m_prefix
        0xE8, 0x1D, 0x00, 0x00, 0x00,             // 423: call write2
        0x48, 0x8D, 0x35, 0xC4, 0x00, 0x00, 0x00, // 428: lea rsi, [rip+m_usage]
        0xBA, 0x4E, 0x00, 0x00, 0x00,             // 42f: mov edx, m_usage_end - m_usage
        0xE8, 0x0C, 0x00, 0x00, 0x00,             // 434: call write2
        0xBF, 0x7D, 0x00, 0x00, 0x00,             // 439: mov edi, 125
        0xB8, 0xE7, 0x00, 0x00, 0x00,             // 43e: mov eax, 231
        0x0F, 0x05,                               // 443: syscall
        0xBF, 0x02, 0x00, 0x00, 0x00,             // 445: mov edi, 2
        0xB8, 0x01, 0x00, 0x00, 0x00,             // 44a: mov eax, 1
        0x0F, 0x05,                               // 44f: syscall
        0xC3,                                     // 451: ret
        0x31, 0xF6,                               // 452: xor esi, esi
        0x31, 0xD2,                               // 454: xor edx, edx
        0xB8, 0x02, 0x00, 0x00, 0x00,             // 456: mov eax, 2
        0x0F, 0x05,                               // 45b: syscall
        0x85, 0xC0,                               // 45d: test eax, eax
        0x0F, 0x88, 0x43, 0xFF, 0xFF, 0xFF,       // 45f: js openfail
        0x44, 0x39, 0xF8,                         // 465: cmp eax, r15d
        0x74, 0x21,                               // 468: je 15f
        0x41, 0x89, 0xC4,                         // 46a: mov r12d, eax
        0x89, 0xC7,                               // 46d: mov edi, eax
        0x44, 0x89, 0xFE,                         // 46f: mov esi, r15d
        0xB8, 0x21, 0x00, 0x00, 0x00,             // 472: mov eax, 33
        0x0F, 0x05,                               // 477: syscall
        0x85, 0xC0,                               // 479: test eax, eax
        0x0F, 0x88, 0x27, 0xFF, 0xFF, 0xFF,       // 47b: js openfail
        0x44, 0x89, 0xE7,                         // 481: mov edi, r12d
        0xB8, 0x03, 0x00, 0x00, 0x00,             // 484: mov eax, 3
        0x0F, 0x05,                               // 489: syscall
        0xC3,                                     // 48b: 15: ret
        0x48, 0x89, 0x44, 0x24, 0x08,             // 48c: mov [rsp+8], rax
        0x48, 0x89, 0x44, 0x24, 0x10,             // 491: mov [rsp+16], rax
        0x48, 0x8D, 0x74, 0x24, 0x08,             // 496: lea rsi, [rsp+8]
        0xB8, 0xA0, 0x00, 0x00, 0x00,             // 49b: mov eax, 160
        0x0F, 0x05,                               // 4a0: syscall
        0x85, 0xC0,                               // 4a2: test eax, eax
        0x0F, 0x85, 0xDA, 0xFE, 0xFF, 0xFF,       // 4a4: jnz limitfail
        0xC3,                                     // 4aa: ret
        0x31, 0xC0,                               // 4ab: xor eax, eax
        0x80, 0x3E, 0x00,                         // 4ad: cmp byte ptr [rsi], 0
        0x0F, 0x84, 0x61, 0xFF, 0xFF, 0xFF,       // 4b0: je usage
        0x0F, 0xB6, 0x0E,                         // 4b6: 16: movzx ecx, byte ptr [rsi]
        0x85, 0xC9,                               // 4b9: test ecx, ecx
        0x74, 0x18,                               // 4bb: jz 17f
        0x83, 0xE9, 0x30,                         // 4bd: sub ecx, '0'
        0x83, 0xF9, 0x09,                         // 4c0: cmp ecx, 9
        0x0F, 0x87, 0x4E, 0xFF, 0xFF, 0xFF,       // 4c3: ja usage
        0x48, 0x6B, 0xC0, 0x0A,                   // 4c9: imul rax, rax, 10
        0x48, 0x01, 0xC8,                         // 4cd: add rax, rcx
        0x48, 0xFF, 0xC6,                         // 4d0: inc rsi
        0xEB, 0xE1,                               // 4d3: jmp 16b
        0xC3,                                     // 4d5: 17: ret
    ];

    /// <summary>The data, right after the code (the <c>lea</c>s above address them relative to rip).</summary>
    private static readonly string[] Data =
    [
        "/dev/null\0", "buildfarm-sandbox: ", "usage: UID GID NPROC FSIZE ARGS SECCOMP EXEC COMMAND MOUNTNS PROGRAM [ARG...]\n",
        "cannot open a file of the sandbox", "cannot set the build's limits", "cannot become the build user",
        "cannot read the builder's command", "cannot execute bubblewrap", "cannot join the build's mount namespace", " (errno ",
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
    /// <remarks><paramref name="mountNamespace"/>: a path to open and join (<c>setns</c>) before anything else is read by name, or "" to stay.</remarks>
    public static IReadOnlyList<string> Arguments(long uid, long gid, int maxProcesses, long maxFileSize, string args, string seccomp, string exec, string command, string mountNamespace) =>
        [Decimal(uid), Decimal(gid), Decimal(maxProcesses), Decimal(maxFileSize), args, seccomp, exec, command, mountNamespace];

    private static string Decimal(long value) =>
        value >= 0 ? value.ToString(System.Globalization.CultureInfo.InvariantCulture) : throw new ArgumentOutOfRangeException(nameof(value), value, "the launcher takes non-negative numbers");
}

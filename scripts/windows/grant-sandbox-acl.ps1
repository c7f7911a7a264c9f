<#
.SYNOPSIS
Grants the Tablewright sandbox's AppContainer what it needs, and labels the
worker's private files so that a low-integrity child cannot read them.

.DESCRIPTION
The worker starts each sandbox child in the AppContainer "Tablewright.Sandbox"
(a less-privileged one, LPAC, where Windows has them) with no capability, or,
where it cannot, with a restricted token at low integrity
(src/sandbox/sandbox_win.c, docs/windows.md). This script:

 1. creates the AppContainer profile (or finds it) and prints its SID. The
    SID is derived from the name alone, so it is the same for whichever
    account the worker runs as;
 2. grants that SID read and execute (inherited) on the Python installation
    and the sandbox venv: an AppContainer reaches only what grants its SID, a
    capability it holds, or (not for an LPAC) ALL APPLICATION PACKAGES.
    Windows' own directories already grant ALL RESTRICTED APPLICATION
    PACKAGES; a Python installation does not. The package SID is granted
    rather than ALL APPLICATION PACKAGES (S-1-15-2-1), which every Store app
    holds and which an LPAC has opted out of;
 3. with -PrivatePath, gives each listed file or directory (.env, the log
    directory, the cluster's password file) a medium mandatory label with
    no-read-up, no-write-up and no-execute-up: the restricted-token
    fallback runs at low integrity and keeps the Users and Everyone groups,
    so the label, not the DACL, is what keeps it from reading them;
 4. with -UsersReadPython, grants BUILTIN\Users read and execute on the
    Python installation and the venv, which the restricted-token fallback
    needs when Python is installed under a user's profile (its user SID is
    deny-only; under "Program Files" Users can read already).

Run it as an administrator, again after reinstalling Python or recreating
the venv. It is idempotent. setup.ps1 calls it.

.EXAMPLE
.\grant-sandbox-acl.ps1 -PythonDir 'C:\Program Files\Python311' `
    -VenvDir 'C:\Tablewright\sandbox\.venv' -PrivatePath 'C:\Tablewright\.env','C:\Tablewright\logs'
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $PythonDir,
    [Parameter(Mandatory = $true)] [string] $VenvDir,
    [string[]] $PrivatePath = @(),
    [switch] $UsersReadPython
)
$ErrorActionPreference = 'Stop'

Add-Type -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
public static class TwSandboxAcl {
    [DllImport("userenv.dll", CharSet = CharSet.Unicode)]
    public static extern int CreateAppContainerProfile(string name, string display,
        string description, IntPtr caps, uint ncaps, out IntPtr sid);
    [DllImport("userenv.dll", CharSet = CharSet.Unicode)]
    public static extern int DeriveAppContainerSidFromAppContainerName(string name, out IntPtr sid);
    [DllImport("advapi32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
    public static extern bool ConvertSidToStringSidW(IntPtr sid, out IntPtr str);
    [DllImport("advapi32.dll")]
    public static extern IntPtr FreeSid(IntPtr sid);
    [DllImport("kernel32.dll")]
    public static extern IntPtr LocalFree(IntPtr p);
    [DllImport("advapi32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
    public static extern bool ConvertStringSecurityDescriptorToSecurityDescriptorW(
        string sddl, uint rev, out IntPtr sd, IntPtr size);
    [DllImport("advapi32.dll", SetLastError = true)]
    public static extern bool GetSecurityDescriptorSacl(IntPtr sd, out bool present,
        out IntPtr sacl, out bool defaulted);
    [DllImport("advapi32.dll", CharSet = CharSet.Unicode)]
    public static extern uint SetNamedSecurityInfoW(string path, int type, uint info,
        IntPtr owner, IntPtr group, IntPtr dacl, IntPtr sacl);

    // HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)
    const int AlreadyExists = unchecked((int)0x800700B7);

    public static string ContainerSid(string name) {
        IntPtr sid;
        int hr = CreateAppContainerProfile(name, "Tablewright sandbox",
            "Runs Tablewright transform scripts", IntPtr.Zero, 0, out sid);
        if (hr == AlreadyExists)
            hr = DeriveAppContainerSidFromAppContainerName(name, out sid);
        if (hr < 0)
            throw new Exception(String.Format(
                "could not create or find the AppContainer profile {0}: HRESULT 0x{1:x8}", name, hr));
        IntPtr str;
        if (!ConvertSidToStringSidW(sid, out str))
            throw new Exception("could not convert the AppContainer SID");
        string s = Marshal.PtrToStringUni(str);
        LocalFree(str);
        FreeSid(sid);
        return s;
    }

    // SE_FILE_OBJECT = 1, LABEL_SECURITY_INFORMATION = 0x10
    public static void LabelNoReadUp(string path, bool isDir) {
        IntPtr sd;
        // OICI: inherited by what is created in a directory later.
        string sddl = isDir ? "S:(ML;OICI;NRNWNX;;;ME)" : "S:(ML;;NRNWNX;;;ME)";
        if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, 1, out sd, IntPtr.Zero))
            throw new Exception("could not build the label");
        bool present, defaulted;
        IntPtr sacl;
        GetSecurityDescriptorSacl(sd, out present, out sacl, out defaulted);
        uint e = SetNamedSecurityInfoW(path, 1, 0x10, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, sacl);
        LocalFree(sd);
        if (e != 0)
            throw new Exception(String.Format("could not label {0}: error {1}", path, e));
    }
}
'@

function Grant-ReadExecute([string] $Path, [string] $Who) {
    if (-not (Test-Path -LiteralPath $Path)) { throw "no such directory: $Path" }
    & icacls.exe $Path /grant "${Who}:(OI)(CI)(RX)" /T /C /Q | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls failed on $Path (exit $LASTEXITCODE)" }
    Write-Output "granted $Who read and execute on $Path"
}

$sid = [TwSandboxAcl]::ContainerSid('Tablewright.Sandbox')
Write-Output "AppContainer Tablewright.Sandbox: $sid"

foreach ($dir in @($PythonDir, $VenvDir)) {
    Grant-ReadExecute $dir "*$sid"
    if ($UsersReadPython) { Grant-ReadExecute $dir '*S-1-5-32-545' }
}
foreach ($p in $PrivatePath) {
    if (-not (Test-Path -LiteralPath $p)) { throw "no such file or directory: $p" }
    $full = (Resolve-Path -LiteralPath $p).Path
    [TwSandboxAcl]::LabelNoReadUp($full, (Test-Path -LiteralPath $full -PathType Container))
    Write-Output "labelled $p medium, no-read-up"
}

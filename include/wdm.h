/*
 * wdm.h - wsk: the Windows kernel subset that WSK clients use, provided by libwsk.
 *
 * What libwsk exports (IRPs, MDLs, events and waits, spin locks and IRQL, pool, lookaside
 * lists, system threads, work items, rundown protection, S-lists, Rtl strings and IP
 * conversions) is declared here with the Windows prototypes; what Windows has as inline
 * routines or macros (IoGetNextIrpStackLocation, IoSetCompletionRoutine, MmInitializeMdl,
 * the list helpers, the Interlocked family, DbgPrint) is inline here too.
 *
 * Structures have the x64 Windows layout where clients can see members (IRP 208 bytes,
 * IO_STACK_LOCATION 72, MDL 48, KEVENT 24); crates/wsk-ffi/src/abi.rs mirrors them and a
 * test compares the two.
 *
 * Debug output: DbgPrint, DbgPrintEx, vDbgPrintEx, KdPrint and the WPP trace macros format
 * here (see _wsk_format.h for the Windows conventions understood: %wZ, %ws, %I64x, %lu...)
 * and hand each message to libwsk's WskRtlDebugOutput. Every message is printed, whatever
 * its DbgPrintEx component and level (Windows' default filter would drop the non-error ones).
 *
 * DBG defaults to 1 (define DBG=0 to change it): ASSERT, NT_ASSERT and KdPrint are active,
 * as in a checked build. A failed assertion prints the expression and calls KeBugCheckEx.
 */
#ifndef WSK_WDM_H
#define WSK_WDM_H
#ifndef WSK_HEADERS_NOT_SYSTEM
#pragma GCC system_header
#endif

#include <ntdef.h>
#include <ntstatus.h>
#include <_wsk_format.h>
#include <ip2string.h>

#ifndef DBG
#define DBG 1
#endif

#ifndef NTDDI_VERSION
#define NTDDI_WIN7 0x06010000
#define NTDDI_WIN8 0x06020000
#define NTDDI_WINBLUE 0x06030000
#define NTDDI_WIN10 0x0A000000
#define NTDDI_WIN10_RS2 0x0A000003
#define NTDDI_WIN10_RS4 0x0A000005
#define NTDDI_VERSION NTDDI_WIN10_RS4
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00
#endif

/* ----- IRQLs (x64) ----- */
#define PASSIVE_LEVEL 0
#define LOW_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2
#define CMCI_LEVEL 5
#define CLOCK_LEVEL 13
#define IPI_LEVEL 14
#define DRS_LEVEL 14
#define POWER_LEVEL 14
#define PROFILE_LEVEL 15
#define HIGH_LEVEL 15

/* ----- priority increments ----- */
#define IO_NO_INCREMENT 0
#define IO_CD_ROM_INCREMENT 1
#define IO_DISK_INCREMENT 1
#define IO_PARALLEL_INCREMENT 1
#define IO_VIDEO_INCREMENT 1
#define IO_MAILSLOT_INCREMENT 2
#define IO_NAMED_PIPE_INCREMENT 2
#define IO_NETWORK_INCREMENT 2
#define IO_SERIAL_INCREMENT 2
#define IO_KEYBOARD_INCREMENT 6
#define IO_MOUSE_INCREMENT 6
#define IO_SOUND_INCREMENT 8
#define EVENT_INCREMENT 1
#define SEMAPHORE_INCREMENT 1

/* ----- enumerations ----- */
typedef enum _MODE { KernelMode, UserMode, MaximumMode } MODE;

typedef enum _EVENT_TYPE { NotificationEvent, SynchronizationEvent } EVENT_TYPE;
typedef enum _TIMER_TYPE { NotificationTimer, SynchronizationTimer } TIMER_TYPE;
typedef enum _WAIT_TYPE { WaitAll, WaitAny, WaitNotification, WaitDequeue, WaitDpc } WAIT_TYPE;

typedef enum _KWAIT_REASON {
    Executive = 0,
    FreePage = 1,
    PageIn = 2,
    PoolAllocation = 3,
    DelayExecution = 4,
    Suspended = 5,
    UserRequest = 6,
    WrExecutive = 7,
    WrFreePage = 8,
    WrPageIn = 9,
    WrPoolAllocation = 10,
    WrDelayExecution = 11,
    WrSuspended = 12,
    WrUserRequest = 13,
    WrSpare0 = 14,
    WrQueue = 15,
    WrLpcReceive = 16,
    WrLpcReply = 17,
    WrVirtualMemory = 18,
    WrPageOut = 19,
    WrRendezvous = 20,
    WrKeyedEvent = 21,
    WrTerminated = 22,
    WrProcessInSwap = 23,
    WrCpuRateControl = 24,
    WrCalloutStack = 25,
    WrKernel = 26,
    WrResource = 27,
    WrPushLock = 28,
    WrMutex = 29,
    WrQuantumEnd = 30,
    WrDispatchInt = 31,
    WrPreempted = 32,
    WrYieldExecution = 33,
    WrFastMutex = 34,
    WrGuardedMutex = 35,
    WrRundown = 36,
    WrAlertByThreadId = 37,
    WrDeferredPreempt = 38,
    WrPhysicalFault = 39,
    WrIoRing = 40,
    WrMdlCache = 41,
    MaximumWaitReason = 42
} KWAIT_REASON;

typedef enum _POOL_TYPE {
    NonPagedPool = 0,
    NonPagedPoolExecute = NonPagedPool,
    PagedPool = 1,
    NonPagedPoolMustSucceed = 2,
    DontUseThisType = 3,
    NonPagedPoolCacheAligned = 4,
    PagedPoolCacheAligned = 5,
    NonPagedPoolCacheAlignedMustS = 6,
    MaxPoolType = 7,
    NonPagedPoolBase = 0,
    NonPagedPoolBaseMustSucceed = 2,
    NonPagedPoolBaseCacheAligned = 4,
    NonPagedPoolBaseCacheAlignedMustS = 6,
    NonPagedPoolSession = 32,
    PagedPoolSession = 33,
    NonPagedPoolMustSucceedSession = 34,
    DontUseThisTypeSession = 35,
    NonPagedPoolCacheAlignedSession = 36,
    PagedPoolCacheAlignedSession = 37,
    NonPagedPoolCacheAlignedMustSSession = 38,
    NonPagedPoolNx = 512,
    NonPagedPoolNxCacheAligned = 516,
    NonPagedPoolSessionNx = 544
} POOL_TYPE;

#define POOL_FLAG_REQUIRED_START 0x0000000000000001ULL
#define POOL_FLAG_USE_QUOTA 0x0000000000000001ULL
#define POOL_FLAG_UNINITIALIZED 0x0000000000000002ULL
#define POOL_FLAG_SESSION 0x0000000000000004ULL
#define POOL_FLAG_CACHE_ALIGNED 0x0000000000000008ULL
#define POOL_FLAG_RESERVED1 0x0000000000000010ULL
#define POOL_FLAG_RAISE_ON_FAILURE 0x0000000000000020ULL
#define POOL_FLAG_NON_PAGED 0x0000000000000040ULL
#define POOL_FLAG_NON_PAGED_EXECUTE 0x0000000000000080ULL
#define POOL_FLAG_PAGED 0x0000000000000100ULL
#define POOL_FLAG_RESERVED2 0x0000000000000200ULL
#define POOL_FLAG_RESERVED3 0x0000000000000400ULL
#define POOL_COLD_ALLOCATION 256
#define POOL_NX_ALLOCATION 512
#define POOL_ZERO_ALLOCATION 1024
#define POOL_RAISE_IF_ALLOCATION_FAILURE 16

typedef enum _LOCK_OPERATION { IoReadAccess, IoWriteAccess, IoModifyAccess } LOCK_OPERATION;

typedef enum _MEMORY_CACHING_TYPE {
    MmNotMapped = -1,
    MmNonCached = 0,
    MmCached = 1,
    MmWriteCombined = 2,
    MmHardwareCoherentCached = 3,
    MmNonCachedUnordered = 4,
    MmUSWCCached = 5,
    MmMaximumCacheType = 6
} MEMORY_CACHING_TYPE;

typedef enum _MM_PAGE_PRIORITY { LowPagePriority = 0, NormalPagePriority = 16, HighPagePriority = 32 } MM_PAGE_PRIORITY;
#define MdlMappingNoWrite 0x80000000
#define MdlMappingNoExecute 0x40000000
#define MdlMappingWithGuardPtes 0x20000000

typedef enum _WORK_QUEUE_TYPE {
    CriticalWorkQueue = 0,
    DelayedWorkQueue = 1,
    HyperCriticalWorkQueue = 2,
    NormalWorkQueue = 3,
    BackgroundWorkQueue = 4,
    RealTimeWorkQueue = 5,
    SuperCriticalWorkQueue = 6,
    MaximumWorkQueue = 7,
    CustomPriorityWorkQueue = 32
} WORK_QUEUE_TYPE;

/* ----- access rights of kernel objects ----- */
#define THREAD_TERMINATE 0x0001
#define THREAD_SUSPEND_RESUME 0x0002
#define THREAD_ALERT 0x0004
#define THREAD_GET_CONTEXT 0x0008
#define THREAD_SET_CONTEXT 0x0010
#define THREAD_SET_INFORMATION 0x0020
#define THREAD_SET_LIMITED_INFORMATION 0x0400
#define THREAD_QUERY_LIMITED_INFORMATION 0x0800
#define THREAD_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF)
#define PROCESS_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF)
#define EVENT_QUERY_STATE 0x0001
#define EVENT_MODIFY_STATE 0x0002
#define EVENT_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)

#define THREAD_WAIT_OBJECTS 3
#define MAXIMUM_WAIT_OBJECTS 64

/* ----- pages ----- */
#define PAGE_SIZE 0x1000
#define PAGE_SHIFT 12L
#define PAGE_ALIGN(Va) ((PVOID)((ULONG_PTR)(Va) & ~((ULONG_PTR)PAGE_SIZE - 1)))
#define BYTE_OFFSET(Va) ((ULONG)((ULONG_PTR)(Va) & ((ULONG_PTR)PAGE_SIZE - 1)))
#define ROUND_TO_PAGES(Size) (((ULONG_PTR)(Size) + PAGE_SIZE - 1) & ~((ULONG_PTR)PAGE_SIZE - 1))
#define BYTES_TO_PAGES(Size) ((ULONG)((ULONG_PTR)(Size) >> PAGE_SHIFT) + (((ULONG)(Size) & (PAGE_SIZE - 1)) != 0))
#define ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, Size) \
    ((ULONG)((((ULONG_PTR)(Va) & ((ULONG_PTR)PAGE_SIZE - 1)) + (ULONG_PTR)(Size) + (PAGE_SIZE - 1)) >> PAGE_SHIFT))
#define COMPUTE_PAGES_SPANNED(Va, Size) ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, Size)

/* ----- devices, ioctls, major functions ----- */
#define FILE_DEVICE_BEEP 0x00000001
#define FILE_DEVICE_CD_ROM 0x00000002
#define FILE_DEVICE_CONTROLLER 0x00000004
#define FILE_DEVICE_DATALINK 0x00000005
#define FILE_DEVICE_DISK 0x00000007
#define FILE_DEVICE_FILE_SYSTEM 0x00000009
#define FILE_DEVICE_KEYBOARD 0x0000000b
#define FILE_DEVICE_MOUSE 0x0000000f
#define FILE_DEVICE_NAMED_PIPE 0x00000011
#define FILE_DEVICE_NETWORK 0x00000012
#define FILE_DEVICE_NETWORK_BROWSER 0x00000013
#define FILE_DEVICE_NETWORK_FILE_SYSTEM 0x00000014
#define FILE_DEVICE_NULL 0x00000015
#define FILE_DEVICE_PHYSICAL_NETCARD 0x00000017
#define FILE_DEVICE_SERIAL_PORT 0x0000001b
#define FILE_DEVICE_TRANSPORT 0x00000021
#define FILE_DEVICE_UNKNOWN 0x00000022
#define FILE_DEVICE_VIDEO 0x00000023
#define FILE_DEVICE_NETWORK_REDIRECTOR 0x00000028
#define FILE_DEVICE_KS 0x0000002f
#define FILE_DEVICE_KSEC 0x00000039
#define FILE_DEVICE_VMBUS 0x0000003e

#define FILE_REMOVABLE_MEDIA 0x00000001
#define FILE_READ_ONLY_DEVICE 0x00000002
#define FILE_FLOPPY_DISKETTE 0x00000004
#define FILE_WRITE_ONCE_MEDIA 0x00000008
#define FILE_REMOTE_DEVICE 0x00000010
#define FILE_DEVICE_IS_MOUNTED 0x00000020
#define FILE_VIRTUAL_VOLUME 0x00000040
#define FILE_AUTOGENERATED_DEVICE_NAME 0x00000080
#define FILE_DEVICE_SECURE_OPEN 0x00000100
#define FILE_CHARACTERISTIC_PNP_DEVICE 0x00000800
#define FILE_CHARACTERISTIC_TS_DEVICE 0x00001000
#define FILE_CHARACTERISTIC_WEBDAV_DEVICE 0x00002000
#define FILE_DEVICE_ALLOW_APPCONTAINER_TRAVERSAL 0x00020000

#define DO_VERIFY_VOLUME 0x00000002
#define DO_BUFFERED_IO 0x00000004
#define DO_EXCLUSIVE 0x00000008
#define DO_DIRECT_IO 0x00000010
#define DO_MAP_IO_BUFFER 0x00000020
#define DO_DEVICE_HAS_NAME 0x00000040
#define DO_DEVICE_INITIALIZING 0x00000080
#define DO_SHUTDOWN_REGISTERED 0x00000800
#define DO_BUS_ENUMERATED_DEVICE 0x00001000
#define DO_POWER_PAGABLE 0x00002000
#define DO_POWER_INRUSH 0x00004000

#define METHOD_BUFFERED 0
#define METHOD_IN_DIRECT 1
#define METHOD_OUT_DIRECT 2
#define METHOD_NEITHER 3
#define METHOD_DIRECT_TO_HARDWARE METHOD_IN_DIRECT
#define METHOD_DIRECT_FROM_HARDWARE METHOD_OUT_DIRECT
#define FILE_ANY_ACCESS 0
#define FILE_SPECIAL_ACCESS (FILE_ANY_ACCESS)
#define FILE_READ_ACCESS (0x0001)
#define FILE_WRITE_ACCESS (0x0002)
#define CTL_CODE(DeviceType, Function, Method, Access) \
    (((DeviceType) << 16) | ((Access) << 14) | ((Function) << 2) | (Method))
#define DEVICE_TYPE_FROM_CTL_CODE(ctrlCode) (((ULONG)((ctrlCode) & 0xffff0000)) >> 16)
#define METHOD_FROM_CTL_CODE(ctrlCode) ((ULONG)((ctrlCode) & 3))

#define IRP_MJ_CREATE 0x00
#define IRP_MJ_CREATE_NAMED_PIPE 0x01
#define IRP_MJ_CLOSE 0x02
#define IRP_MJ_READ 0x03
#define IRP_MJ_WRITE 0x04
#define IRP_MJ_QUERY_INFORMATION 0x05
#define IRP_MJ_SET_INFORMATION 0x06
#define IRP_MJ_QUERY_EA 0x07
#define IRP_MJ_SET_EA 0x08
#define IRP_MJ_FLUSH_BUFFERS 0x09
#define IRP_MJ_QUERY_VOLUME_INFORMATION 0x0a
#define IRP_MJ_SET_VOLUME_INFORMATION 0x0b
#define IRP_MJ_DIRECTORY_CONTROL 0x0c
#define IRP_MJ_FILE_SYSTEM_CONTROL 0x0d
#define IRP_MJ_DEVICE_CONTROL 0x0e
#define IRP_MJ_INTERNAL_DEVICE_CONTROL 0x0f
#define IRP_MJ_SCSI IRP_MJ_INTERNAL_DEVICE_CONTROL
#define IRP_MJ_SHUTDOWN 0x10
#define IRP_MJ_LOCK_CONTROL 0x11
#define IRP_MJ_CLEANUP 0x12
#define IRP_MJ_CREATE_MAILSLOT 0x13
#define IRP_MJ_QUERY_SECURITY 0x14
#define IRP_MJ_SET_SECURITY 0x15
#define IRP_MJ_POWER 0x16
#define IRP_MJ_SYSTEM_CONTROL 0x17
#define IRP_MJ_DEVICE_CHANGE 0x18
#define IRP_MJ_QUERY_QUOTA 0x19
#define IRP_MJ_SET_QUOTA 0x1a
#define IRP_MJ_PNP 0x1b
#define IRP_MJ_PNP_POWER IRP_MJ_PNP
#define IRP_MJ_MAXIMUM_FUNCTION 0x1b

#define IO_TYPE_ADAPTER 1
#define IO_TYPE_CONTROLLER 2
#define IO_TYPE_DEVICE 3
#define IO_TYPE_DRIVER 4
#define IO_TYPE_FILE 5
#define IO_TYPE_IRP 6

/* IRP.AllocationFlags bits */
#define IRP_QUOTA_CHARGED 0x01
#define IRP_ALLOCATED_MUST_SUCCEED 0x02
#define IRP_ALLOCATED_FIXED_SIZE 0x04
#define IRP_LOOKASIDE_ALLOCATION 0x08

/* IO_STACK_LOCATION.Control bits */
#define SL_PENDING_RETURNED 0x01
#define SL_ERROR_RETURNED 0x02
#define SL_INVOKE_ON_CANCEL 0x20
#define SL_INVOKE_ON_SUCCESS 0x40
#define SL_INVOKE_ON_ERROR 0x80

/* MDL.MdlFlags bits */
#define MDL_MAPPED_TO_SYSTEM_VA 0x0001
#define MDL_PAGES_LOCKED 0x0002
#define MDL_SOURCE_IS_NONPAGED_POOL 0x0004
#define MDL_ALLOCATED_FIXED_SIZE 0x0008
#define MDL_PARTIAL 0x0010
#define MDL_PARTIAL_HAS_BEEN_MAPPED 0x0020
#define MDL_IO_PAGE_READ 0x0040
#define MDL_WRITE_OPERATION 0x0080
#define MDL_IO_SPACE 0x0800
#define MDL_NETWORK_HEADER 0x1000
#define MDL_MAPPING_CAN_FAIL 0x2000
#define MDL_INTERNAL 0x8000
#define MDL_MAPPING_FLAGS \
    (MDL_MAPPED_TO_SYSTEM_VA | MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL_HAS_BEEN_MAPPED)

/* DbgPrintEx levels and the driver components */
#define DPFLTR_ERROR_LEVEL 0
#define DPFLTR_WARNING_LEVEL 1
#define DPFLTR_TRACE_LEVEL 2
#define DPFLTR_INFO_LEVEL 3
#define DPFLTR_MASK 0x80000000
typedef enum _DPFLTR_TYPE {
    DPFLTR_SYSTEM_ID = 0,
    DPFLTR_IHVDRIVER_ID = 77,
    DPFLTR_IHVVIDEO_ID = 78,
    DPFLTR_IHVAUDIO_ID = 79,
    DPFLTR_IHVNETWORK_ID = 80,
    DPFLTR_IHVSTREAMING_ID = 81,
    DPFLTR_IHVBUS_ID = 82
} DPFLTR_TYPE;

/* ----- byte swapping ----- */
#define RtlUshortByteSwap(_x) ((USHORT)__builtin_bswap16((USHORT)(_x)))
#define RtlUlongByteSwap(_x) ((ULONG)__builtin_bswap32((ULONG)(_x)))
#define RtlUlonglongByteSwap(_x) ((ULONGLONG)__builtin_bswap64((ULONGLONG)(_x)))

/* ----- opaque kernel objects ----- */
typedef struct _KTHREAD *PKTHREAD, *PRKTHREAD;
typedef struct _ETHREAD *PETHREAD;
typedef struct _KPROCESS *PKPROCESS, *PRKPROCESS;
typedef struct _EPROCESS *PEPROCESS;
typedef struct _OBJECT_TYPE *POBJECT_TYPE;
typedef struct _FILE_OBJECT *PFILE_OBJECT;
typedef struct _IO_WORKITEM *PIO_WORKITEM;
typedef struct _IO_TIMER *PIO_TIMER;
typedef struct _VPB *PVPB;
typedef struct _ACCESS_STATE *PACCESS_STATE;

struct _DEVICE_OBJECT;
struct _DRIVER_OBJECT;
struct _IRP;

/* ----- dispatcher objects ----- */
typedef struct _DISPATCHER_HEADER {
    UCHAR Type;
    UCHAR Signalling;
    UCHAR Size;
    UCHAR Reserved1;
    LONG SignalState;
    LIST_ENTRY WaitListHead;
} DISPATCHER_HEADER, *PDISPATCHER_HEADER;

typedef struct _KEVENT {
    DISPATCHER_HEADER Header;
} KEVENT, *PKEVENT, *PRKEVENT;

/* Storage for KeWaitForMultipleObjects; its contents are libwsk's. */
typedef struct _KWAIT_BLOCK {
    ULONG_PTR Reserved[6];
} KWAIT_BLOCK, *PKWAIT_BLOCK, *PRKWAIT_BLOCK;

typedef struct _KLOCK_QUEUE_HANDLE {
    struct {
        PVOID Next;
        PKSPIN_LOCK Lock;
    } LockQueue;
    KIRQL OldIrql;
} KLOCK_QUEUE_HANDLE, *PKLOCK_QUEUE_HANDLE;

/* ----- S-lists: libwsk keeps the first entry in Next, the depth in Depth ----- */
typedef SINGLE_LIST_ENTRY SLIST_ENTRY, *PSLIST_ENTRY;

typedef union DECLSPEC_ALIGN(16) _SLIST_HEADER {
    __extension__ struct {
        PSLIST_ENTRY Next;
        USHORT Depth;
        USHORT Reserved;
        ULONG Sequence;
    };
    __extension__ struct {
        ULONGLONG Alignment;
        ULONGLONG Region;
    };
} SLIST_HEADER, *PSLIST_HEADER;

/* ----- rundown protection ----- */
typedef struct _EX_RUNDOWN_REF {
    __extension__ union {
        ULONG_PTR Count;
        PVOID Ptr;
    };
} EX_RUNDOWN_REF, *PEX_RUNDOWN_REF;

/* ----- I/O status and MDLs ----- */
typedef struct _IO_STATUS_BLOCK {
    __extension__ union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG_PTR Information;
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

typedef VOID (*PIO_APC_ROUTINE)(PVOID ApcContext, PIO_STATUS_BLOCK IoStatusBlock, ULONG Reserved);

typedef struct _MDL {
    struct _MDL *Next;
    CSHORT Size;
    CSHORT MdlFlags;
    PEPROCESS Process;
    PVOID MappedSystemVa;
    PVOID StartVa;
    ULONG ByteCount;
    ULONG ByteOffset;
    /* followed by the PFN_NUMBER array of the pages */
} MDL, *PMDL, *PMDLX;

/* ----- driver routines (role types) ----- */
typedef NTSTATUS DRIVER_INITIALIZE(_In_ struct _DRIVER_OBJECT *DriverObject, _In_ PUNICODE_STRING RegistryPath);
typedef DRIVER_INITIALIZE *PDRIVER_INITIALIZE;
typedef VOID DRIVER_UNLOAD(_In_ struct _DRIVER_OBJECT *DriverObject);
typedef DRIVER_UNLOAD *PDRIVER_UNLOAD;
typedef NTSTATUS DRIVER_DISPATCH(_In_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_DISPATCH *PDRIVER_DISPATCH;
typedef DRIVER_DISPATCH DRIVER_DISPATCH_RAISED;
typedef DRIVER_DISPATCH DRIVER_DISPATCH_PAGED;
typedef VOID DRIVER_STARTIO(_Inout_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_STARTIO *PDRIVER_STARTIO;
typedef NTSTATUS DRIVER_ADD_DEVICE(_In_ struct _DRIVER_OBJECT *DriverObject,
                                   _In_ struct _DEVICE_OBJECT *PhysicalDeviceObject);
typedef DRIVER_ADD_DEVICE *PDRIVER_ADD_DEVICE;
typedef VOID DRIVER_CANCEL(_Inout_ struct _DEVICE_OBJECT *DeviceObject, _Inout_ struct _IRP *Irp);
typedef DRIVER_CANCEL *PDRIVER_CANCEL;
typedef NTSTATUS IO_COMPLETION_ROUTINE(_In_ struct _DEVICE_OBJECT *DeviceObject, _In_ struct _IRP *Irp,
                                       _In_reads_opt_(_Inexpressible_("varies")) PVOID Context);
typedef IO_COMPLETION_ROUTINE *PIO_COMPLETION_ROUTINE;
typedef VOID IO_WORKITEM_ROUTINE(_In_ struct _DEVICE_OBJECT *DeviceObject, _In_opt_ PVOID Context);
typedef IO_WORKITEM_ROUTINE *PIO_WORKITEM_ROUTINE;
typedef VOID KSTART_ROUTINE(_In_ PVOID StartContext);
typedef KSTART_ROUTINE *PKSTART_ROUTINE;

/* ----- IRPs ----- */
typedef struct _KDEVICE_QUEUE_ENTRY {
    LIST_ENTRY DeviceListEntry;
    ULONG SortKey;
    BOOLEAN Inserted;
} KDEVICE_QUEUE_ENTRY, *PKDEVICE_QUEUE_ENTRY, *PRKDEVICE_QUEUE_ENTRY;

/* An APC object: storage only (88 bytes on x64), the size of IRP.Tail. */
typedef struct _KAPC {
    ULONG_PTR Reserved[11];
} KAPC, *PKAPC, *PRKAPC;

typedef struct _IO_STACK_LOCATION {
    UCHAR MajorFunction;
    UCHAR MinorFunction;
    UCHAR Flags;
    UCHAR Control;
    union {
        struct {
            PVOID SecurityContext;
            ULONG Options;
            USHORT POINTER_ALIGNMENT FileAttributes;
            USHORT ShareAccess;
            ULONG POINTER_ALIGNMENT EaLength;
        } Create;
        struct {
            ULONG Length;
            ULONG POINTER_ALIGNMENT Key;
            ULONG Flags;
            LARGE_INTEGER ByteOffset;
        } Read;
        struct {
            ULONG Length;
            ULONG POINTER_ALIGNMENT Key;
            ULONG Flags;
            LARGE_INTEGER ByteOffset;
        } Write;
        struct {
            ULONG OutputBufferLength;
            ULONG POINTER_ALIGNMENT InputBufferLength;
            ULONG POINTER_ALIGNMENT IoControlCode;
            PVOID Type3InputBuffer;
        } DeviceIoControl;
        struct {
            PVOID Argument1;
            PVOID Argument2;
            PVOID Argument3;
            PVOID Argument4;
        } Others;
    } Parameters;
    struct _DEVICE_OBJECT *DeviceObject;
    PFILE_OBJECT FileObject;
    PIO_COMPLETION_ROUTINE CompletionRoutine;
    PVOID Context;
} IO_STACK_LOCATION, *PIO_STACK_LOCATION;

typedef struct _IRP {
    CSHORT Type;
    USHORT Size;
    USHORT AllocationProcessorNumber;
    USHORT Reserved;
    PMDL MdlAddress;
    ULONG Flags;
    union {
        struct _IRP *MasterIrp;
        LONG IrpCount;
        PVOID SystemBuffer;
    } AssociatedIrp;
    LIST_ENTRY ThreadListEntry;
    IO_STATUS_BLOCK IoStatus;
    KPROCESSOR_MODE RequestorMode;
    BOOLEAN PendingReturned;
    CHAR StackCount;
    CHAR CurrentLocation;
    BOOLEAN Cancel;
    KIRQL CancelIrql;
    CCHAR ApcEnvironment;
    UCHAR AllocationFlags;
    PIO_STATUS_BLOCK UserIosb;
    PKEVENT UserEvent;
    union {
        struct {
            PIO_APC_ROUTINE UserApcRoutine;
            PVOID UserApcContext;
        } AsynchronousParameters;
        LARGE_INTEGER AllocationSize;
    } Overlay;
    PDRIVER_CANCEL CancelRoutine;
    PVOID UserBuffer;
    union {
        struct {
            __extension__ union {
                KDEVICE_QUEUE_ENTRY DeviceQueueEntry;
                __extension__ struct {
                    PVOID DriverContext[4];
                };
            };
            PETHREAD Thread;
            PCHAR AuxiliaryBuffer;
            __extension__ struct {
                LIST_ENTRY ListEntry;
                __extension__ union {
                    struct _IO_STACK_LOCATION *CurrentStackLocation;
                    ULONG PacketType;
                };
            };
            PFILE_OBJECT OriginalFileObject;
        } Overlay;
        KAPC Apc;
        PVOID CompletionKey;
    } Tail;
} IRP, *PIRP;

/* ----- driver and device objects (the members drivers use, in Windows order) ----- */
typedef struct _DRIVER_OBJECT {
    CSHORT Type;
    CSHORT Size;
    struct _DEVICE_OBJECT *DeviceObject;
    ULONG Flags;
    PVOID DriverStart;
    ULONG DriverSize;
    PVOID DriverSection;
    PVOID DriverExtension;
    UNICODE_STRING DriverName;
    PUNICODE_STRING HardwareDatabase;
    PVOID FastIoDispatch;
    PDRIVER_INITIALIZE DriverInit;
    PDRIVER_STARTIO DriverStartIo;
    PDRIVER_UNLOAD DriverUnload;
    PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];
} DRIVER_OBJECT, *PDRIVER_OBJECT;

typedef struct _DEVICE_OBJECT {
    CSHORT Type;
    USHORT Size;
    LONG ReferenceCount;
    struct _DRIVER_OBJECT *DriverObject;
    struct _DEVICE_OBJECT *NextDevice;
    struct _DEVICE_OBJECT *AttachedDevice;
    struct _IRP *CurrentIrp;
    PVOID Timer;
    ULONG Flags;
    ULONG Characteristics;
    PVOID Vpb;
    PVOID DeviceExtension;
    DEVICE_TYPE DeviceType;
    CCHAR StackSize;
    PVOID Queue[9];                 /* LIST_ENTRY / WAIT_CONTEXT_BLOCK union on Windows */
    ULONG AlignmentRequirement;
    PVOID DeviceQueue[5];           /* KDEVICE_QUEUE */
    PVOID Dpc[8];                   /* KDPC */
    ULONG ActiveThreadCount;
    PVOID SecurityDescriptor;
    KEVENT DeviceLock;
    USHORT SectorSize;
    USHORT Spare1;
    PVOID DeviceObjectExtension;
    PVOID Reserved;
    PVOID Padding;                  /* to Windows' 336 bytes */
} DEVICE_OBJECT, *PDEVICE_OBJECT;

typedef struct _OBJECT_HANDLE_INFORMATION {
    ULONG HandleAttributes;
    ACCESS_MASK GrantedAccess;
} OBJECT_HANDLE_INFORMATION, *POBJECT_HANDLE_INFORMATION;

/* ----- lookaside lists: storage whose contents are libwsk's ----- */
typedef struct DECLSPEC_ALIGN(16) _NPAGED_LOOKASIDE_LIST {
    PVOID Reserved[16];
} NPAGED_LOOKASIDE_LIST, *PNPAGED_LOOKASIDE_LIST;
typedef struct DECLSPEC_ALIGN(16) _PAGED_LOOKASIDE_LIST {
    PVOID Reserved[16];
} PAGED_LOOKASIDE_LIST, *PPAGED_LOOKASIDE_LIST;
typedef struct DECLSPEC_ALIGN(16) _LOOKASIDE_LIST_EX {
    PVOID Reserved[16];
} LOOKASIDE_LIST_EX, *PLOOKASIDE_LIST_EX;

typedef PVOID ALLOCATE_FUNCTION(_In_ POOL_TYPE PoolType, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag);
typedef ALLOCATE_FUNCTION *PALLOCATE_FUNCTION;
typedef VOID FREE_FUNCTION(_In_ PVOID Buffer);
typedef FREE_FUNCTION *PFREE_FUNCTION;
typedef PVOID ALLOCATE_FUNCTION_EX(_In_ POOL_TYPE PoolType, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag,
                                   _Inout_ PLOOKASIDE_LIST_EX Lookaside);
typedef ALLOCATE_FUNCTION_EX *PALLOCATE_FUNCTION_EX;
typedef VOID FREE_FUNCTION_EX(_In_ PVOID Buffer, _Inout_ PLOOKASIDE_LIST_EX Lookaside);
typedef FREE_FUNCTION_EX *PFREE_FUNCTION_EX;
#define EX_LOOKASIDE_LIST_EX_FLAGS_RAISE_ON_FAIL 0x00000001UL
#define EX_LOOKASIDE_LIST_EX_FLAGS_FAIL_NO_RAISE 0x00000002UL
#define LOOKASIDE_MINIMUM_BLOCK_SIZE (RTL_SIZEOF_THROUGH_FIELD(SLIST_ENTRY, Next))

/* ===================================================================================== */
/* Routines exported by libwsk                                                           */
/* ===================================================================================== */
WSK_BEGIN_C

/* driver entry point (defined by the client; declared here so that C++ gets C linkage) */
DRIVER_INITIALIZE DriverEntry;

/* IRPs */
NTKERNELAPI PIRP IoAllocateIrp(_In_ CCHAR StackSize, _In_ BOOLEAN ChargeQuota);
NTKERNELAPI VOID IoInitializeIrp(_Inout_ PIRP Irp, _In_ USHORT PacketSize, _In_ CCHAR StackSize);
NTKERNELAPI VOID IoReuseIrp(_Inout_ PIRP Irp, _In_ NTSTATUS Iostatus);
NTKERNELAPI VOID IoFreeIrp(_In_ __drv_freesMem(Mem) PIRP Irp);
NTKERNELAPI VOID FASTCALL IofCompleteRequest(_In_ PIRP Irp, _In_ CCHAR PriorityBoost);
NTKERNELAPI BOOLEAN IoCancelIrp(_In_ PIRP Irp);
NTKERNELAPI VOID IoAcquireCancelSpinLock(_Out_ PKIRQL Irql);
NTKERNELAPI VOID IoReleaseCancelSpinLock(_In_ KIRQL Irql);
#define IoCompleteRequest(a, b) IofCompleteRequest(a, b)

/* MDLs */
NTKERNELAPI PMDL IoAllocateMdl(_In_opt_ PVOID VirtualAddress, _In_ ULONG Length, _In_ BOOLEAN SecondaryBuffer,
                               _In_ BOOLEAN ChargeQuota, _Inout_opt_ PIRP Irp);
NTKERNELAPI VOID IoFreeMdl(PMDL Mdl);
NTKERNELAPI VOID IoBuildPartialMdl(_In_ PMDL SourceMdl, _Inout_ PMDL TargetMdl, _In_ PVOID VirtualAddress,
                                   _In_ ULONG Length);
NTKERNELAPI VOID MmBuildMdlForNonPagedPool(_Inout_ PMDL MemoryDescriptorList);
NTKERNELAPI VOID MmProbeAndLockPages(_Inout_ PMDL MemoryDescriptorList, _In_ KPROCESSOR_MODE AccessMode,
                                     _In_ LOCK_OPERATION Operation);
NTKERNELAPI VOID MmUnlockPages(_Inout_ PMDL MemoryDescriptorList);
NTKERNELAPI PVOID MmMapLockedPagesSpecifyCache(_Inout_ PMDL MemoryDescriptorList, _In_ KPROCESSOR_MODE AccessMode,
                                               _In_ MEMORY_CACHING_TYPE CacheType, _In_opt_ PVOID RequestedAddress,
                                               _In_ ULONG BugCheckOnFailure, _In_ ULONG Priority);
NTKERNELAPI PVOID MmMapLockedPages(_Inout_ PMDL MemoryDescriptorList, _In_ KPROCESSOR_MODE AccessMode);
NTKERNELAPI VOID MmUnmapLockedPages(_In_ PVOID BaseAddress, _Inout_ PMDL MemoryDescriptorList);
NTKERNELAPI SIZE_T MmSizeOfMdl(_In_reads_bytes_opt_(Length) PVOID Base, _In_ SIZE_T Length);

/* events and waits */
NTKERNELAPI VOID KeInitializeEvent(_Out_ PRKEVENT Event, _In_ EVENT_TYPE Type, _In_ BOOLEAN State);
NTKERNELAPI LONG KeSetEvent(_Inout_ PRKEVENT Event, _In_ KPRIORITY Increment, _In_ BOOLEAN Wait);
NTKERNELAPI LONG KeResetEvent(_Inout_ PRKEVENT Event);
NTKERNELAPI VOID KeClearEvent(_Inout_ PRKEVENT Event);
NTKERNELAPI LONG KeReadStateEvent(_In_ PRKEVENT Event);
NTKERNELAPI NTSTATUS KeWaitForSingleObject(_In_ PVOID Object, _In_ KWAIT_REASON WaitReason,
                                           _In_ KPROCESSOR_MODE WaitMode, _In_ BOOLEAN Alertable,
                                           _In_opt_ PLARGE_INTEGER Timeout);
NTKERNELAPI NTSTATUS KeWaitForMultipleObjects(_In_ ULONG Count, _In_reads_(Count) PVOID Object[],
                                              _In_ WAIT_TYPE WaitType, _In_ KWAIT_REASON WaitReason,
                                              _In_ KPROCESSOR_MODE WaitMode, _In_ BOOLEAN Alertable,
                                              _In_opt_ PLARGE_INTEGER Timeout,
                                              _Out_opt_ PKWAIT_BLOCK WaitBlockArray);
NTKERNELAPI NTSTATUS KeDelayExecutionThread(_In_ KPROCESSOR_MODE WaitMode, _In_ BOOLEAN Alertable,
                                            _In_ PLARGE_INTEGER Interval);
#define KeWaitForMutexObject KeWaitForSingleObject

/* time: 100 ns units; system time counts from 1601-01-01 */
NTKERNELAPI VOID KeQuerySystemTimePrecise(_Out_ PLARGE_INTEGER CurrentTime);
NTKERNELAPI ULONGLONG KeQueryInterruptTime(VOID);
NTKERNELAPI LARGE_INTEGER KeQueryPerformanceCounter(_Out_opt_ PLARGE_INTEGER PerformanceFrequency);
#define KeQuerySystemTime(t) KeQuerySystemTimePrecise(t)

/* IRQL and spin locks */
NTKERNELAPI KIRQL KeGetCurrentIrql(VOID);
NTKERNELAPI KIRQL KfRaiseIrql(_In_ KIRQL NewIrql);
NTKERNELAPI VOID KeLowerIrql(_In_ KIRQL NewIrql);
NTKERNELAPI KIRQL KeAcquireSpinLockRaiseToDpc(_Inout_ PKSPIN_LOCK SpinLock);
NTKERNELAPI VOID KeReleaseSpinLock(_Inout_ PKSPIN_LOCK SpinLock, _In_ KIRQL NewIrql);
NTKERNELAPI VOID KeAcquireSpinLockAtDpcLevel(_Inout_ PKSPIN_LOCK SpinLock);
NTKERNELAPI VOID KeReleaseSpinLockFromDpcLevel(_Inout_ PKSPIN_LOCK SpinLock);
NTKERNELAPI VOID KeAcquireInStackQueuedSpinLock(_Inout_ PKSPIN_LOCK SpinLock, _Out_ PKLOCK_QUEUE_HANDLE LockHandle);
NTKERNELAPI VOID KeReleaseInStackQueuedSpinLock(_In_ PKLOCK_QUEUE_HANDLE LockHandle);
NTKERNELAPI VOID KeAcquireInStackQueuedSpinLockAtDpcLevel(_Inout_ PKSPIN_LOCK SpinLock,
                                                          _Out_ PKLOCK_QUEUE_HANDLE LockHandle);
NTKERNELAPI VOID KeReleaseInStackQueuedSpinLockFromDpcLevel(_In_ PKLOCK_QUEUE_HANDLE LockHandle);
NTKERNELAPI BOOLEAN KeTryToAcquireSpinLockAtDpcLevel(_Inout_ PKSPIN_LOCK SpinLock);
#define KeRaiseIrql(a, b) *(b) = KfRaiseIrql(a)
#define KeAcquireSpinLock(a, b) *(b) = KeAcquireSpinLockRaiseToDpc(a)

/* pool */
NTKERNELAPI PVOID ExAllocatePoolWithTag(_In_ POOL_TYPE PoolType, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag);
NTKERNELAPI PVOID ExAllocatePool2(_In_ POOL_FLAGS Flags, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag);
NTKERNELAPI PVOID ExAllocatePoolZero(_In_ POOL_TYPE PoolType, _In_ SIZE_T NumberOfBytes, _In_ ULONG Tag);
NTKERNELAPI VOID ExFreePool(_In_ __drv_freesMem(Mem) PVOID P);
NTKERNELAPI VOID ExFreePoolWithTag(_In_ __drv_freesMem(Mem) PVOID P, _In_ ULONG Tag);
#define ExAllocatePool(t, s) ExAllocatePoolWithTag(t, s, 'enoN')
#define ExAllocatePoolUninitialized(t, s, g) ExAllocatePoolWithTag(t, s, g)
#define ExAllocatePoolQuotaUninitialized(t, s, g) ExAllocatePoolWithTag(t, s, g)

/* lookaside lists */
NTKERNELAPI VOID ExInitializeNPagedLookasideList(_Out_ PNPAGED_LOOKASIDE_LIST Lookaside,
                                                 _In_opt_ PALLOCATE_FUNCTION Allocate, _In_opt_ PFREE_FUNCTION Free,
                                                 _In_ ULONG Flags, _In_ SIZE_T Size, _In_ ULONG Tag,
                                                 _In_ USHORT Depth);
NTKERNELAPI VOID ExDeleteNPagedLookasideList(_Inout_ PNPAGED_LOOKASIDE_LIST Lookaside);
NTKERNELAPI PVOID ExAllocateFromNPagedLookasideList(_Inout_ PNPAGED_LOOKASIDE_LIST Lookaside);
NTKERNELAPI VOID ExFreeToNPagedLookasideList(_Inout_ PNPAGED_LOOKASIDE_LIST Lookaside, _In_ PVOID Entry);
NTKERNELAPI VOID ExInitializePagedLookasideList(_Out_ PPAGED_LOOKASIDE_LIST Lookaside,
                                                _In_opt_ PALLOCATE_FUNCTION Allocate, _In_opt_ PFREE_FUNCTION Free,
                                                _In_ ULONG Flags, _In_ SIZE_T Size, _In_ ULONG Tag,
                                                _In_ USHORT Depth);
NTKERNELAPI VOID ExDeletePagedLookasideList(_Inout_ PPAGED_LOOKASIDE_LIST Lookaside);
NTKERNELAPI PVOID ExAllocateFromPagedLookasideList(_Inout_ PPAGED_LOOKASIDE_LIST Lookaside);
NTKERNELAPI VOID ExFreeToPagedLookasideList(_Inout_ PPAGED_LOOKASIDE_LIST Lookaside, _In_ PVOID Entry);
NTKERNELAPI NTSTATUS ExInitializeLookasideListEx(_Out_ PLOOKASIDE_LIST_EX Lookaside,
                                                 _In_opt_ PALLOCATE_FUNCTION_EX Allocate,
                                                 _In_opt_ PFREE_FUNCTION_EX Free, _In_ POOL_TYPE PoolType,
                                                 _In_ ULONG Flags, _In_ SIZE_T Size, _In_ ULONG Tag,
                                                 _In_ USHORT Depth);
NTKERNELAPI VOID ExDeleteLookasideListEx(_Inout_ PLOOKASIDE_LIST_EX Lookaside);
NTKERNELAPI PVOID ExAllocateFromLookasideListEx(_Inout_ PLOOKASIDE_LIST_EX Lookaside);
NTKERNELAPI VOID ExFreeToLookasideListEx(_Inout_ PLOOKASIDE_LIST_EX Lookaside, _In_ PVOID Entry);

/* threads and objects */
NTKERNELAPI NTSTATUS PsCreateSystemThread(_Out_ PHANDLE ThreadHandle, _In_ ULONG DesiredAccess,
                                          _In_opt_ POBJECT_ATTRIBUTES ObjectAttributes,
                                          _In_opt_ HANDLE ProcessHandle, _Out_opt_ PCLIENT_ID ClientId,
                                          _In_ PKSTART_ROUTINE StartRoutine, _In_opt_ PVOID StartContext);
NTKERNELAPI NTSTATUS PsTerminateSystemThread(_In_ NTSTATUS ExitStatus); /* returns only on failure */
NTKERNELAPI PETHREAD PsGetCurrentThread(VOID);
NTKERNELAPI PEPROCESS PsGetCurrentProcess(VOID);
NTKERNELAPI HANDLE PsGetCurrentThreadId(VOID);
NTKERNELAPI PKTHREAD KeGetCurrentThread(VOID);
NTKERNELAPI PEPROCESS IoGetCurrentProcess(VOID);
NTSYSAPI NTSTATUS NTAPI ZwClose(_In_ HANDLE Handle);
NTKERNELAPI NTSTATUS ObReferenceObjectByHandle(_In_ HANDLE Handle, _In_ ACCESS_MASK DesiredAccess,
                                               _In_opt_ POBJECT_TYPE ObjectType, _In_ KPROCESSOR_MODE AccessMode,
                                               _Out_ PVOID *Object,
                                               _Out_opt_ POBJECT_HANDLE_INFORMATION HandleInformation);
NTKERNELAPI LONG_PTR FASTCALL ObfReferenceObject(_In_ PVOID Object);
NTKERNELAPI LONG_PTR FASTCALL ObfDereferenceObject(_In_ PVOID Object);
#define ObReferenceObject(Object) ObfReferenceObject(Object)
#define ObDereferenceObject(Object) ObfDereferenceObject(Object)
extern POBJECT_TYPE *PsThreadType;
extern POBJECT_TYPE *PsProcessType;
extern POBJECT_TYPE *ExEventObjectType;

/* work items and devices */
NTKERNELAPI PIO_WORKITEM IoAllocateWorkItem(_In_ PDEVICE_OBJECT DeviceObject);
NTKERNELAPI VOID IoQueueWorkItem(_Inout_ PIO_WORKITEM IoWorkItem, _In_ PIO_WORKITEM_ROUTINE WorkerRoutine,
                                 _In_ WORK_QUEUE_TYPE QueueType, _In_opt_ PVOID Context);
NTKERNELAPI VOID IoFreeWorkItem(_In_ PIO_WORKITEM IoWorkItem);
NTKERNELAPI NTSTATUS IoCreateDevice(_In_ PDRIVER_OBJECT DriverObject, _In_ ULONG DeviceExtensionSize,
                                    _In_opt_ PUNICODE_STRING DeviceName, _In_ DEVICE_TYPE DeviceType,
                                    _In_ ULONG DeviceCharacteristics, _In_ BOOLEAN Exclusive,
                                    _Out_ PDEVICE_OBJECT *DeviceObject);
NTKERNELAPI VOID IoDeleteDevice(_In_ PDEVICE_OBJECT DeviceObject);

/* rundown protection */
NTKERNELAPI VOID ExInitializeRundownProtection(_Out_ PEX_RUNDOWN_REF RunRef);
NTKERNELAPI VOID ExReInitializeRundownProtection(_Inout_ PEX_RUNDOWN_REF RunRef);
NTKERNELAPI BOOLEAN ExAcquireRundownProtection(_Inout_ PEX_RUNDOWN_REF RunRef);
NTKERNELAPI VOID ExReleaseRundownProtection(_Inout_ PEX_RUNDOWN_REF RunRef);
NTKERNELAPI BOOLEAN ExAcquireRundownProtectionEx(_Inout_ PEX_RUNDOWN_REF RunRef, _In_ ULONG Count);
NTKERNELAPI VOID ExReleaseRundownProtectionEx(_Inout_ PEX_RUNDOWN_REF RunRef, _In_ ULONG Count);
NTKERNELAPI VOID ExWaitForRundownProtectionRelease(_Inout_ PEX_RUNDOWN_REF RunRef);
NTKERNELAPI VOID ExRundownCompleted(_Out_ PEX_RUNDOWN_REF RunRef);

/* S-lists */
NTKERNELAPI PSLIST_ENTRY InterlockedPushEntrySList(_Inout_ PSLIST_HEADER ListHead, _Inout_ PSLIST_ENTRY ListEntry);
NTKERNELAPI PSLIST_ENTRY InterlockedPopEntrySList(_Inout_ PSLIST_HEADER ListHead);
NTKERNELAPI PSLIST_ENTRY InterlockedFlushSList(_Inout_ PSLIST_HEADER ListHead);
NTKERNELAPI USHORT QueryDepthSList(_In_ PSLIST_HEADER ListHead);
#define ExInterlockedPushEntrySList(Head, Entry, Lock) InterlockedPushEntrySList(Head, Entry)
#define ExInterlockedPopEntrySList(Head, Lock) InterlockedPopEntrySList(Head)
#define ExInterlockedFlushSList(Head) InterlockedFlushSList(Head)
#define ExQueryDepthSList(Head) QueryDepthSList(Head)

/* Rtl */
NTSYSAPI VOID NTAPI RtlInitUnicodeString(_Out_ PUNICODE_STRING DestinationString, _In_opt_z_ PCWSTR SourceString);
NTSYSAPI VOID NTAPI RtlInitAnsiString(_Out_ PANSI_STRING DestinationString, _In_opt_z_ PCSZ SourceString);
NTSYSAPI VOID NTAPI RtlCopyUnicodeString(_Inout_ PUNICODE_STRING DestinationString,
                                         _In_opt_ PCUNICODE_STRING SourceString);
NTSYSAPI BOOLEAN NTAPI RtlEqualUnicodeString(_In_ PCUNICODE_STRING String1, _In_ PCUNICODE_STRING String2,
                                             _In_ BOOLEAN CaseInSensitive);
NTSYSAPI LONG NTAPI RtlCompareUnicodeString(_In_ PCUNICODE_STRING String1, _In_ PCUNICODE_STRING String2,
                                            _In_ BOOLEAN CaseInSensitive);
NTSYSAPI SIZE_T NTAPI RtlCompareMemory(_In_ const VOID *Source1, _In_ const VOID *Source2, _In_ SIZE_T Length);

/* system failure: prints the code and parameters, then aborts the process */
NTKERNELAPI DECLSPEC_NORETURN VOID KeBugCheckEx(_In_ ULONG BugCheckCode, _In_ ULONG_PTR BugCheckParameter1,
                                                _In_ ULONG_PTR BugCheckParameter2,
                                                _In_ ULONG_PTR BugCheckParameter3,
                                                _In_ ULONG_PTR BugCheckParameter4);
NTKERNELAPI DECLSPEC_NORETURN VOID KeBugCheck(_In_ ULONG BugCheckCode);

WSK_END_C

/* ===================================================================================== */
/* Inline routines and macros (inline on Windows too)                                    */
/* ===================================================================================== */

/* ----- memory ----- */
#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define RtlMoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define RtlFillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlEqualMemory(Destination, Source, Length) (!memcmp((Destination), (Source), (Length)))
#define RtlCopyBytes RtlCopyMemory
#define RtlZeroBytes RtlZeroMemory
#define RtlFillBytes RtlFillMemory
#define RtlCopyMemoryNonTemporal RtlCopyMemory
FORCEINLINE PVOID RtlSecureZeroMemory(_Out_writes_bytes_all_(cnt) PVOID ptr, _In_ SIZE_T cnt)
{
    volatile char *p = (volatile char *)ptr;
    while (cnt--)
        *p++ = 0;
    return ptr;
}

/* ----- doubly linked lists ----- */
FORCEINLINE VOID InitializeListHead(_Out_ PLIST_ENTRY ListHead) { ListHead->Flink = ListHead->Blink = ListHead; }
FORCEINLINE BOOLEAN IsListEmpty(_In_ const LIST_ENTRY *ListHead) { return (BOOLEAN)(ListHead->Flink == ListHead); }
FORCEINLINE BOOLEAN RemoveEntryList(_In_ PLIST_ENTRY Entry)
{
    PLIST_ENTRY Flink = Entry->Flink, Blink = Entry->Blink;
    Blink->Flink = Flink;
    Flink->Blink = Blink;
    return (BOOLEAN)(Flink == Blink);
}
FORCEINLINE PLIST_ENTRY RemoveHeadList(_Inout_ PLIST_ENTRY ListHead)
{
    PLIST_ENTRY Entry = ListHead->Flink, Flink = Entry->Flink;
    ListHead->Flink = Flink;
    Flink->Blink = ListHead;
    return Entry;
}
FORCEINLINE PLIST_ENTRY RemoveTailList(_Inout_ PLIST_ENTRY ListHead)
{
    PLIST_ENTRY Entry = ListHead->Blink, Blink = Entry->Blink;
    ListHead->Blink = Blink;
    Blink->Flink = ListHead;
    return Entry;
}
FORCEINLINE VOID InsertTailList(_Inout_ PLIST_ENTRY ListHead, _Out_ PLIST_ENTRY Entry)
{
    PLIST_ENTRY Blink = ListHead->Blink;
    Entry->Flink = ListHead;
    Entry->Blink = Blink;
    Blink->Flink = Entry;
    ListHead->Blink = Entry;
}
FORCEINLINE VOID InsertHeadList(_Inout_ PLIST_ENTRY ListHead, _Out_ PLIST_ENTRY Entry)
{
    PLIST_ENTRY Flink = ListHead->Flink;
    Entry->Flink = Flink;
    Entry->Blink = ListHead;
    Flink->Blink = Entry;
    ListHead->Flink = Entry;
}
FORCEINLINE VOID AppendTailList(_Inout_ PLIST_ENTRY ListHead, _Inout_ PLIST_ENTRY ListToAppend)
{
    PLIST_ENTRY ListEnd = ListHead->Blink;
    ListHead->Blink->Flink = ListToAppend;
    ListHead->Blink = ListToAppend->Blink;
    ListToAppend->Blink->Flink = ListHead;
    ListToAppend->Blink = ListEnd;
}

/* ----- singly linked lists ----- */
FORCEINLINE PSINGLE_LIST_ENTRY PopEntryList(_Inout_ PSINGLE_LIST_ENTRY ListHead)
{
    PSINGLE_LIST_ENTRY FirstEntry = ListHead->Next;
    if (FirstEntry != NULL)
        ListHead->Next = FirstEntry->Next;
    return FirstEntry;
}
FORCEINLINE VOID PushEntryList(_Inout_ PSINGLE_LIST_ENTRY ListHead, _Inout_ PSINGLE_LIST_ENTRY Entry)
{
    Entry->Next = ListHead->Next;
    ListHead->Next = Entry;
}

/* ----- S-list helpers ----- */
FORCEINLINE VOID InitializeSListHead(_Out_ PSLIST_HEADER SListHead) { memset(SListHead, 0, sizeof(SLIST_HEADER)); }
#define ExInitializeSListHead InitializeSListHead
FORCEINLINE PSLIST_ENTRY FirstEntrySList(_In_ const SLIST_HEADER *SListHead) { return SListHead->Next; }

/* ----- the Interlocked family (sequentially consistent; LONG is 32 bits) ----- */
#define _WSK_SC __ATOMIC_SEQ_CST
FORCEINLINE LONG InterlockedIncrement(_Inout_ _Interlocked_operand_ LONG volatile *Addend)
{
    return __atomic_add_fetch(Addend, 1, _WSK_SC);
}
FORCEINLINE LONG InterlockedDecrement(_Inout_ _Interlocked_operand_ LONG volatile *Addend)
{
    return __atomic_sub_fetch(Addend, 1, _WSK_SC);
}
FORCEINLINE LONG InterlockedExchange(_Inout_ _Interlocked_operand_ LONG volatile *Target, _In_ LONG Value)
{
    return __atomic_exchange_n(Target, Value, _WSK_SC);
}
FORCEINLINE LONG InterlockedCompareExchange(_Inout_ _Interlocked_operand_ LONG volatile *Destination,
                                            _In_ LONG ExChange, _In_ LONG Comperand)
{
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, _WSK_SC, _WSK_SC);
    return Comperand;
}
FORCEINLINE LONG InterlockedExchangeAdd(_Inout_ _Interlocked_operand_ LONG volatile *Addend, _In_ LONG Value)
{
    return __atomic_fetch_add(Addend, Value, _WSK_SC);
}
FORCEINLINE LONG InterlockedAdd(_Inout_ _Interlocked_operand_ LONG volatile *Addend, _In_ LONG Value)
{
    return __atomic_add_fetch(Addend, Value, _WSK_SC);
}
FORCEINLINE LONG InterlockedOr(_Inout_ _Interlocked_operand_ LONG volatile *Destination, _In_ LONG Value)
{
    return __atomic_fetch_or(Destination, Value, _WSK_SC);
}
FORCEINLINE LONG InterlockedAnd(_Inout_ _Interlocked_operand_ LONG volatile *Destination, _In_ LONG Value)
{
    return __atomic_fetch_and(Destination, Value, _WSK_SC);
}
FORCEINLINE LONG InterlockedXor(_Inout_ _Interlocked_operand_ LONG volatile *Destination, _In_ LONG Value)
{
    return __atomic_fetch_xor(Destination, Value, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedIncrement64(_Inout_ _Interlocked_operand_ LONG64 volatile *Addend)
{
    return __atomic_add_fetch(Addend, 1, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedDecrement64(_Inout_ _Interlocked_operand_ LONG64 volatile *Addend)
{
    return __atomic_sub_fetch(Addend, 1, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedExchange64(_Inout_ _Interlocked_operand_ LONG64 volatile *Target, _In_ LONG64 Value)
{
    return __atomic_exchange_n(Target, Value, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedCompareExchange64(_Inout_ _Interlocked_operand_ LONG64 volatile *Destination,
                                                _In_ LONG64 ExChange, _In_ LONG64 Comperand)
{
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, _WSK_SC, _WSK_SC);
    return Comperand;
}
FORCEINLINE LONG64 InterlockedExchangeAdd64(_Inout_ _Interlocked_operand_ LONG64 volatile *Addend, _In_ LONG64 Value)
{
    return __atomic_fetch_add(Addend, Value, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedAdd64(_Inout_ _Interlocked_operand_ LONG64 volatile *Addend, _In_ LONG64 Value)
{
    return __atomic_add_fetch(Addend, Value, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedOr64(_Inout_ _Interlocked_operand_ LONG64 volatile *Destination, _In_ LONG64 Value)
{
    return __atomic_fetch_or(Destination, Value, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedAnd64(_Inout_ _Interlocked_operand_ LONG64 volatile *Destination, _In_ LONG64 Value)
{
    return __atomic_fetch_and(Destination, Value, _WSK_SC);
}
FORCEINLINE LONG64 InterlockedXor64(_Inout_ _Interlocked_operand_ LONG64 volatile *Destination, _In_ LONG64 Value)
{
    return __atomic_fetch_xor(Destination, Value, _WSK_SC);
}
FORCEINLINE SHORT InterlockedIncrement16(_Inout_ _Interlocked_operand_ SHORT volatile *Addend)
{
    return __atomic_add_fetch(Addend, 1, _WSK_SC);
}
FORCEINLINE SHORT InterlockedDecrement16(_Inout_ _Interlocked_operand_ SHORT volatile *Addend)
{
    return __atomic_sub_fetch(Addend, 1, _WSK_SC);
}
FORCEINLINE SHORT InterlockedCompareExchange16(_Inout_ _Interlocked_operand_ SHORT volatile *Destination,
                                               _In_ SHORT ExChange, _In_ SHORT Comperand)
{
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, _WSK_SC, _WSK_SC);
    return Comperand;
}
FORCEINLINE SHORT InterlockedExchange16(_Inout_ _Interlocked_operand_ SHORT volatile *Target, _In_ SHORT Value)
{
    return __atomic_exchange_n(Target, Value, _WSK_SC);
}
FORCEINLINE CHAR InterlockedExchange8(_Inout_ _Interlocked_operand_ CHAR volatile *Target, _In_ CHAR Value)
{
    return __atomic_exchange_n(Target, Value, _WSK_SC);
}
FORCEINLINE CHAR InterlockedOr8(_Inout_ _Interlocked_operand_ CHAR volatile *Destination, _In_ CHAR Value)
{
    return __atomic_fetch_or(Destination, Value, _WSK_SC);
}
FORCEINLINE CHAR InterlockedAnd8(_Inout_ _Interlocked_operand_ CHAR volatile *Destination, _In_ CHAR Value)
{
    return __atomic_fetch_and(Destination, Value, _WSK_SC);
}
FORCEINLINE PVOID InterlockedExchangePointer(_Inout_ _Interlocked_operand_ PVOID volatile *Target, _In_opt_ PVOID Value)
{
    return __atomic_exchange_n(Target, Value, _WSK_SC);
}
FORCEINLINE PVOID InterlockedCompareExchangePointer(_Inout_ _Interlocked_operand_ PVOID volatile *Destination,
                                                    _In_opt_ PVOID ExChange, _In_opt_ PVOID Comperand)
{
    __atomic_compare_exchange_n(Destination, &Comperand, ExChange, 0, _WSK_SC, _WSK_SC);
    return Comperand;
}
FORCEINLINE BOOLEAN InterlockedBitTestAndSet(_Inout_ _Interlocked_operand_ LONG volatile *Base, _In_ LONG Offset)
{
    LONG bit = (LONG)(1U << (Offset & 31));
    return (BOOLEAN)((__atomic_fetch_or(&Base[Offset >> 5], bit, _WSK_SC) & bit) != 0);
}
FORCEINLINE BOOLEAN InterlockedBitTestAndReset(_Inout_ _Interlocked_operand_ LONG volatile *Base, _In_ LONG Offset)
{
    LONG bit = (LONG)(1U << (Offset & 31));
    return (BOOLEAN)((__atomic_fetch_and(&Base[Offset >> 5], ~bit, _WSK_SC) & bit) != 0);
}
FORCEINLINE BOOLEAN InterlockedBitTestAndSet64(_Inout_ _Interlocked_operand_ LONG64 volatile *Base, _In_ LONG64 Offset)
{
    LONG64 bit = (LONG64)(1ULL << (Offset & 63));
    return (BOOLEAN)((__atomic_fetch_or(&Base[Offset >> 6], bit, _WSK_SC) & bit) != 0);
}
FORCEINLINE BOOLEAN InterlockedBitTestAndReset64(_Inout_ _Interlocked_operand_ LONG64 volatile *Base,
                                                 _In_ LONG64 Offset)
{
    LONG64 bit = (LONG64)(1ULL << (Offset & 63));
    return (BOOLEAN)((__atomic_fetch_and(&Base[Offset >> 6], ~bit, _WSK_SC) & bit) != 0);
}
#define InterlockedIncrementAcquire InterlockedIncrement
#define InterlockedIncrementRelease InterlockedIncrement
#define InterlockedIncrementNoFence InterlockedIncrement
#define InterlockedDecrementAcquire InterlockedDecrement
#define InterlockedDecrementRelease InterlockedDecrement
#define InterlockedDecrementNoFence InterlockedDecrement
#define InterlockedExchangeAcquire InterlockedExchange
#define InterlockedExchangeNoFence InterlockedExchange
#define InterlockedCompareExchangeAcquire InterlockedCompareExchange
#define InterlockedCompareExchangeRelease InterlockedCompareExchange
#define InterlockedCompareExchangeNoFence InterlockedCompareExchange
#define InterlockedExchangeAddNoFence InterlockedExchangeAdd
#define InterlockedAddNoFence InterlockedAdd
#define InterlockedOrNoFence InterlockedOr
#define InterlockedAndNoFence InterlockedAnd
#define InterlockedIncrement64NoFence InterlockedIncrement64
#define InterlockedDecrement64NoFence InterlockedDecrement64
#define InterlockedAdd64NoFence InterlockedAdd64
#define InterlockedExchangeAdd64NoFence InterlockedExchangeAdd64
#define InterlockedExchangePointerAcquire InterlockedExchangePointer
#define InterlockedExchangePointerNoFence InterlockedExchangePointer
#define InterlockedCompareExchangePointerAcquire InterlockedCompareExchangePointer
#define InterlockedCompareExchangePointerRelease InterlockedCompareExchangePointer
#define InterlockedCompareExchangePointerNoFence InterlockedCompareExchangePointer
#define InterlockedIncrementSizeT(a) ((SIZE_T)InterlockedIncrement64((LONG64 volatile *)(a)))
#define InterlockedDecrementSizeT(a) ((SIZE_T)InterlockedDecrement64((LONG64 volatile *)(a)))
#define InterlockedExchangeAddSizeT(a, b) ((SIZE_T)InterlockedExchangeAdd64((LONG64 volatile *)(a), (LONG64)(b)))
#define InterlockedAddSizeT(a, b) ((SIZE_T)InterlockedAdd64((LONG64 volatile *)(a), (LONG64)(b)))
#define _InterlockedIncrement InterlockedIncrement
#define _InterlockedDecrement InterlockedDecrement
#define _InterlockedExchange InterlockedExchange
#define _InterlockedCompareExchange InterlockedCompareExchange
#define _InterlockedExchangeAdd InterlockedExchangeAdd
#define _InterlockedOr InterlockedOr
#define _InterlockedAnd InterlockedAnd
#define _InterlockedXor InterlockedXor
#define _InterlockedIncrement64 InterlockedIncrement64
#define _InterlockedDecrement64 InterlockedDecrement64
#define _InterlockedExchange64 InterlockedExchange64
#define _InterlockedCompareExchange64 InterlockedCompareExchange64
#define _InterlockedExchangeAdd64 InterlockedExchangeAdd64
#define _InterlockedExchangePointer InterlockedExchangePointer
#define _InterlockedCompareExchangePointer InterlockedCompareExchangePointer

FORCEINLINE LONG ReadNoFence(_In_ _Interlocked_operand_ LONG const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_RELAXED);
}
FORCEINLINE LONG ReadAcquire(_In_ _Interlocked_operand_ LONG const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_ACQUIRE);
}
FORCEINLINE VOID WriteNoFence(_Out_ _Interlocked_operand_ LONG volatile *Destination, _In_ LONG Value)
{
    __atomic_store_n(Destination, Value, __ATOMIC_RELAXED);
}
FORCEINLINE VOID WriteRelease(_Out_ _Interlocked_operand_ LONG volatile *Destination, _In_ LONG Value)
{
    __atomic_store_n(Destination, Value, __ATOMIC_RELEASE);
}
FORCEINLINE LONG64 ReadNoFence64(_In_ _Interlocked_operand_ LONG64 const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_RELAXED);
}
FORCEINLINE LONG64 ReadAcquire64(_In_ _Interlocked_operand_ LONG64 const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_ACQUIRE);
}
FORCEINLINE VOID WriteNoFence64(_Out_ _Interlocked_operand_ LONG64 volatile *Destination, _In_ LONG64 Value)
{
    __atomic_store_n(Destination, Value, __ATOMIC_RELAXED);
}
FORCEINLINE VOID WriteRelease64(_Out_ _Interlocked_operand_ LONG64 volatile *Destination, _In_ LONG64 Value)
{
    __atomic_store_n(Destination, Value, __ATOMIC_RELEASE);
}
FORCEINLINE PVOID ReadPointerNoFence(_In_ _Interlocked_operand_ PVOID const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_RELAXED);
}
FORCEINLINE PVOID ReadPointerAcquire(_In_ _Interlocked_operand_ PVOID const volatile *Source)
{
    return __atomic_load_n(Source, __ATOMIC_ACQUIRE);
}
FORCEINLINE VOID WritePointerNoFence(_Out_ _Interlocked_operand_ PVOID volatile *Destination, _In_opt_ PVOID Value)
{
    __atomic_store_n(Destination, Value, __ATOMIC_RELAXED);
}
FORCEINLINE VOID WritePointerRelease(_Out_ _Interlocked_operand_ PVOID volatile *Destination, _In_opt_ PVOID Value)
{
    __atomic_store_n(Destination, Value, __ATOMIC_RELEASE);
}
#define ReadULongNoFence(p) ((ULONG)ReadNoFence((LONG const volatile *)(p)))
#define ReadULongAcquire(p) ((ULONG)ReadAcquire((LONG const volatile *)(p)))
#define WriteULongNoFence(p, v) WriteNoFence((LONG volatile *)(p), (LONG)(v))
#define WriteULongRelease(p, v) WriteRelease((LONG volatile *)(p), (LONG)(v))

#define KeMemoryBarrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define KeMemoryBarrierWithoutFence() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define MemoryBarrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define _ReadWriteBarrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define _ReadBarrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define _WriteBarrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#if defined(__x86_64__) || defined(__i386__)
#define YieldProcessor() __builtin_ia32_pause()
#else
#define YieldProcessor() __asm__ __volatile__("yield")
#endif
#define KeYieldProcessor YieldProcessor

/* ----- spin locks ----- */
FORCEINLINE VOID KeInitializeSpinLock(_Out_ PKSPIN_LOCK SpinLock) { *SpinLock = 0; }
FORCEINLINE KIRQL KeRaiseIrqlToDpcLevel(VOID) { return KfRaiseIrql(DISPATCH_LEVEL); }

/* ----- pool ----- */
#define ExFreePool2(P, Tag, ExtendedParameters, ExtendedParametersCount) ExFreePoolWithTag(P, Tag)

/* ----- IRPs and stack locations ----- */
#define IoSizeOfIrp(StackSize) ((USHORT)(sizeof(IRP) + ((StackSize) * (sizeof(IO_STACK_LOCATION)))))
FORCEINLINE PIO_STACK_LOCATION IoGetCurrentIrpStackLocation(_In_ PIRP Irp)
{
    return Irp->Tail.Overlay.CurrentStackLocation;
}
FORCEINLINE PIO_STACK_LOCATION IoGetNextIrpStackLocation(_In_ PIRP Irp)
{
    return Irp->Tail.Overlay.CurrentStackLocation - 1;
}
FORCEINLINE VOID IoSetNextIrpStackLocation(_Inout_ PIRP Irp)
{
    Irp->CurrentLocation--;
    Irp->Tail.Overlay.CurrentStackLocation--;
}
FORCEINLINE VOID IoSkipCurrentIrpStackLocation(_Inout_ PIRP Irp)
{
    Irp->CurrentLocation++;
    Irp->Tail.Overlay.CurrentStackLocation++;
}
FORCEINLINE VOID IoCopyCurrentIrpStackLocationToNext(_Inout_ PIRP Irp)
{
    PIO_STACK_LOCATION current = IoGetCurrentIrpStackLocation(Irp);
    PIO_STACK_LOCATION next = IoGetNextIrpStackLocation(Irp);
    memcpy(next, current, offsetof(IO_STACK_LOCATION, CompletionRoutine));
    next->Control = 0;
}
FORCEINLINE VOID IoSetCompletionRoutine(_In_ PIRP Irp, _In_opt_ PIO_COMPLETION_ROUTINE CompletionRoutine,
                                        _In_opt_ __drv_aliasesMem PVOID Context, _In_ BOOLEAN InvokeOnSuccess,
                                        _In_ BOOLEAN InvokeOnError, _In_ BOOLEAN InvokeOnCancel)
{
    PIO_STACK_LOCATION next = IoGetNextIrpStackLocation(Irp);
    next->CompletionRoutine = CompletionRoutine;
    next->Context = Context;
    next->Control = 0;
    if (InvokeOnSuccess)
        next->Control = SL_INVOKE_ON_SUCCESS;
    if (InvokeOnError)
        next->Control |= SL_INVOKE_ON_ERROR;
    if (InvokeOnCancel)
        next->Control |= SL_INVOKE_ON_CANCEL;
}
FORCEINLINE VOID IoMarkIrpPending(_Inout_ PIRP Irp)
{
    IoGetCurrentIrpStackLocation(Irp)->Control |= SL_PENDING_RETURNED;
}
FORCEINLINE PDRIVER_CANCEL IoSetCancelRoutine(_Inout_ PIRP Irp, _In_opt_ PDRIVER_CANCEL CancelRoutine)
{
    return __atomic_exchange_n(&Irp->CancelRoutine, CancelRoutine, __ATOMIC_SEQ_CST);
}
#define IoGetFunctionCodeFromCtlCode(ControlCode) (((ULONG)((ControlCode) & 0x00003FFC)) >> 2)

/* ----- MDLs ----- */
FORCEINLINE VOID MmInitializeMdl(_Out_ PMDL MemoryDescriptorList, _In_opt_ PVOID BaseVa, _In_ SIZE_T Length)
{
    MemoryDescriptorList->Next = NULL;
    MemoryDescriptorList->Size =
        (CSHORT)(sizeof(MDL) + sizeof(PFN_NUMBER) * ADDRESS_AND_SIZE_TO_SPAN_PAGES(BaseVa, Length));
    MemoryDescriptorList->MdlFlags = 0;
    MemoryDescriptorList->StartVa = PAGE_ALIGN(BaseVa);
    MemoryDescriptorList->ByteOffset = BYTE_OFFSET(BaseVa);
    MemoryDescriptorList->ByteCount = (ULONG)Length;
}
#define MmGetMdlVirtualAddress(Mdl) ((PVOID)((PCHAR)((Mdl)->StartVa) + (Mdl)->ByteOffset))
#define MmGetMdlByteCount(Mdl) ((Mdl)->ByteCount)
#define MmGetMdlByteOffset(Mdl) ((Mdl)->ByteOffset)
#define MmGetMdlStartVa(Mdl) ((Mdl)->StartVa)
#define MmGetMdlPfnArray(Mdl) ((PPFN_NUMBER)((Mdl) + 1))
FORCEINLINE PVOID MmGetSystemAddressForMdlSafe(_Inout_ PMDL Mdl, _In_ ULONG Priority)
{
    if (Mdl->MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL))
        return Mdl->MappedSystemVa;
    return MmMapLockedPagesSpecifyCache(Mdl, KernelMode, MmCached, NULL, FALSE, Priority);
}
FORCEINLINE VOID MmPrepareMdlForReuse(_Inout_ PMDL Mdl)
{
    if (Mdl->MdlFlags & MDL_PARTIAL_HAS_BEEN_MAPPED)
        MmUnmapLockedPages(Mdl->MappedSystemVa, Mdl);
}

/* ----- spin-lock-protected list operations ----- */
FORCEINLINE PLIST_ENTRY ExInterlockedInsertHeadList(_Inout_ PLIST_ENTRY ListHead, _Inout_ PLIST_ENTRY ListEntry,
                                                    _Inout_ PKSPIN_LOCK Lock)
{
    KIRQL irql = KeAcquireSpinLockRaiseToDpc(Lock);
    PLIST_ENTRY first = IsListEmpty(ListHead) ? NULL : ListHead->Flink;
    InsertHeadList(ListHead, ListEntry);
    KeReleaseSpinLock(Lock, irql);
    return first;
}
FORCEINLINE PLIST_ENTRY ExInterlockedInsertTailList(_Inout_ PLIST_ENTRY ListHead, _Inout_ PLIST_ENTRY ListEntry,
                                                    _Inout_ PKSPIN_LOCK Lock)
{
    KIRQL irql = KeAcquireSpinLockRaiseToDpc(Lock);
    PLIST_ENTRY last = IsListEmpty(ListHead) ? NULL : ListHead->Blink;
    InsertTailList(ListHead, ListEntry);
    KeReleaseSpinLock(Lock, irql);
    return last;
}
FORCEINLINE PLIST_ENTRY ExInterlockedRemoveHeadList(_Inout_ PLIST_ENTRY ListHead, _Inout_ PKSPIN_LOCK Lock)
{
    KIRQL irql = KeAcquireSpinLockRaiseToDpc(Lock);
    PLIST_ENTRY entry = IsListEmpty(ListHead) ? NULL : RemoveHeadList(ListHead);
    KeReleaseSpinLock(Lock, irql);
    return entry;
}
FORCEINLINE PSINGLE_LIST_ENTRY ExInterlockedPushEntryList(_Inout_ PSINGLE_LIST_ENTRY ListHead,
                                                          _Inout_ PSINGLE_LIST_ENTRY ListEntry, _Inout_ PKSPIN_LOCK Lock)
{
    KIRQL irql = KeAcquireSpinLockRaiseToDpc(Lock);
    PSINGLE_LIST_ENTRY first = ListHead->Next;
    PushEntryList(ListHead, ListEntry);
    KeReleaseSpinLock(Lock, irql);
    return first;
}
FORCEINLINE PSINGLE_LIST_ENTRY ExInterlockedPopEntryList(_Inout_ PSINGLE_LIST_ENTRY ListHead, _Inout_ PKSPIN_LOCK Lock)
{
    KIRQL irql = KeAcquireSpinLockRaiseToDpc(Lock);
    PSINGLE_LIST_ENTRY entry = PopEntryList(ListHead);
    KeReleaseSpinLock(Lock, irql);
    return entry;
}

/* ----- debug output ----- */
FORCEINLINE ULONG vDbgPrintExWithPrefix(_In_z_ PCCH Prefix, _In_ ULONG ComponentId, _In_ ULONG Level,
                                        _In_z_ PCCH Format, _In_ va_list arglist)
{
    (void)ComponentId;
    (void)Level;
    _WskDebugOutputV(NULL, Prefix, Format, arglist, 0);
    return (ULONG)STATUS_SUCCESS;
}
FORCEINLINE ULONG vDbgPrintEx(_In_ ULONG ComponentId, _In_ ULONG Level, _In_z_ PCCH Format, _In_ va_list arglist)
{
    (void)ComponentId;
    (void)Level;
    _WskDebugOutputV(NULL, NULL, Format, arglist, 0);
    return (ULONG)STATUS_SUCCESS;
}
static inline ULONG DbgPrint(_In_z_ _Printf_format_string_ PCSTR Format, ...)
{
    va_list ap;
    va_start(ap, Format);
    _WskDebugOutputV(NULL, NULL, Format, ap, 0);
    va_end(ap);
    return (ULONG)STATUS_SUCCESS;
}
static inline ULONG DbgPrintEx(_In_ ULONG ComponentId, _In_ ULONG Level, _In_z_ _Printf_format_string_ PCSTR Format,
                               ...)
{
    va_list ap;
    (void)ComponentId;
    (void)Level;
    va_start(ap, Format);
    _WskDebugOutputV(NULL, NULL, Format, ap, 0);
    va_end(ap);
    return (ULONG)STATUS_SUCCESS;
}
static inline ULONG DbgPrintReturnControlC(_In_z_ _Printf_format_string_ PCCH Format, ...)
{
    va_list ap;
    va_start(ap, Format);
    _WskDebugOutputV(NULL, NULL, Format, ap, 0);
    va_end(ap);
    return (ULONG)STATUS_SUCCESS;
}
#define DbgBreakPoint() __debugbreak()
#define DbgBreakPointWithStatus(s) __debugbreak()

#if DBG
#define KdPrint(_x_) DbgPrint _x_
#define KdPrintEx(_x_) DbgPrintEx _x_
#define vKdPrintEx(_x_) vDbgPrintEx _x_
#define vKdPrintExWithPrefix(_x_) vDbgPrintExWithPrefix _x_
#define KdBreakPoint() DbgBreakPoint()
#define KdBreakPointWithStatus(s) DbgBreakPointWithStatus(s)
#else
#define KdPrint(_x_) ((void)0)
#define KdPrintEx(_x_) ((void)0)
#define vKdPrintEx(_x_) ((void)0)
#define vKdPrintExWithPrefix(_x_) ((void)0)
#define KdBreakPoint() ((void)0)
#define KdBreakPointWithStatus(s) ((void)0)
#endif
#define KD_DEBUGGER_ENABLED FALSE
#define KD_DEBUGGER_NOT_PRESENT TRUE

/* ----- assertions and failures ----- */
#define WSK_BUGCHECK_ASSERTION_FAILURE 0x574B0001 /* libwsk's code for a failed ASSERT */
#define WSK_BUGCHECK_RAISED_STATUS 0x574B0002     /* libwsk's code for ExRaiseStatus */

static inline DECLSPEC_NORETURN void _WskAssertFailed(const char *Expression, const char *Message, const char *File,
                                                      int Line)
{
    if (Message)
        DbgPrint("*** Assertion failed: %s\n***   %s\n***   Source File: %s, line %d\n", Message, Expression, File, Line);
    else
        DbgPrint("*** Assertion failed: %s\n***   Source File: %s, line %d\n", Expression, File, Line);
    KeBugCheckEx(WSK_BUGCHECK_ASSERTION_FAILURE, (ULONG_PTR)Expression, (ULONG_PTR)File, (ULONG_PTR)Line, 0);
}
static inline BOOLEAN _WskVerify(int Value, const char *Expression, const char *Message, const char *File, int Line)
{
    if (!Value)
        _WskAssertFailed(Expression, Message, File, Line);
    return TRUE;
}
#if DBG
#define ASSERT(exp) ((!(exp)) ? _WskAssertFailed(#exp, NULL, __FILE__, __LINE__) : (void)0)
#define ASSERTMSG(msg, exp) ((!(exp)) ? _WskAssertFailed(#exp, msg, __FILE__, __LINE__) : (void)0)
#define RTL_SOFT_ASSERT(exp) \
    ((!(exp)) ? (void)DbgPrint("%s(%d): Soft assertion failed\n   Expression: %s\n", __FILE__, __LINE__, #exp) : (void)0)
#define RTL_SOFT_ASSERTMSG(msg, exp) \
    ((!(exp)) ? (void)DbgPrint("%s(%d): Soft assertion failed\n   Expression: %s\n   Message: %s\n", __FILE__, \
                               __LINE__, #exp, (msg)) \
              : (void)0)
#define RTL_VERIFY(exp) _WskVerify(!!(exp), #exp, NULL, __FILE__, __LINE__)
#define RTL_VERIFYMSG(msg, exp) _WskVerify(!!(exp), #exp, msg, __FILE__, __LINE__)
#define NT_ASSERT(exp) ASSERT(exp)
#define NT_ASSERTMSG(msg, exp) ASSERTMSG(msg, exp)
#define NT_ASSERTMSGW(msg, exp) ASSERT(exp)
#define NT_VERIFY(exp) _WskVerify(!!(exp), #exp, NULL, __FILE__, __LINE__)
#define NT_VERIFYMSG(msg, exp) _WskVerify(!!(exp), #exp, msg, __FILE__, __LINE__)
#else
#define ASSERT(exp) ((void)0)
#define ASSERTMSG(msg, exp) ((void)0)
#define RTL_SOFT_ASSERT(exp) ((void)0)
#define RTL_SOFT_ASSERTMSG(msg, exp) ((void)0)
#define RTL_VERIFY(exp) ((exp) ? TRUE : FALSE)
#define RTL_VERIFYMSG(msg, exp) ((exp) ? TRUE : FALSE)
#define NT_ASSERT(exp) ((void)0)
#define NT_ASSERTMSG(msg, exp) ((void)0)
#define NT_ASSERTMSGW(msg, exp) ((void)0)
#define NT_VERIFY(exp) ((exp) ? TRUE : FALSE)
#define NT_VERIFYMSG(msg, exp) ((exp) ? TRUE : FALSE)
#endif
#define NT_FRE_ASSERT(exp) ((!(exp)) ? _WskAssertFailed(#exp, NULL, __FILE__, __LINE__) : (void)0)
#define NT_ANALYSIS_ASSUME(exp) ((void)0)

/* Raising an exception ends the process here (there is no SEH to catch it). */
static inline DECLSPEC_NORETURN void ExRaiseStatus(_In_ NTSTATUS Status)
{
    DbgPrint("*** ExRaiseStatus(0x%08X): no structured exception handling on Linux\n", (unsigned int)Status);
    KeBugCheckEx(WSK_BUGCHECK_RAISED_STATUS, (ULONG_PTR)(ULONG)Status, 0, 0, 0);
}
#define ExRaiseAccessViolation() ExRaiseStatus(STATUS_ACCESS_VIOLATION)
#define ExRaiseDatatypeMisalignment() ExRaiseStatus(STATUS_DATATYPE_MISALIGNMENT)

/* Paged code and sections have no meaning here. */
#define PAGED_CODE() ((void)0)
#define PAGED_CODE_LOCKED() ((void)0)
#define NON_PAGED_CODE() ((void)0)
/* ALLOC_PRAGMA / ALLOC_DATA_PRAGMA are left undefined, so that the usual
 * "#ifdef ALLOC_PRAGMA / #pragma alloc_text(...)" blocks are skipped. */

/* ----- WPP software tracing ----- */
#include <wpp.h>

#endif /* WSK_WDM_H */

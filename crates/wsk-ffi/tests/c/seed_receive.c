/*
 * seed_receive.c: the two code examples of the WSK documentation page "Receiving Data
 * over a Connection-Oriented Socket" (the seed page), compiled as written. Only the "..."
 * placeholders are filled in (each filled-in block is marked "[filled in]"); what they
 * record lands in SeedRecord, which seed_host.c checks.
 *
 * The helpers above the examples are used by the filled-in placeholders.
 */
#include "seed_receive.h"

SEED_RECORD SeedRecord;

static NTSTATUS SeedCloseComplete(PDEVICE_OBJECT DeviceObject, PIRP Irp, PVOID Context)
{
    PSEED_CONNECTION Connection = (PSEED_CONNECTION)Context;

    UNREFERENCED_PARAMETER(DeviceObject);
    Connection->CloseStatus = Irp->IoStatus.Status;
    IoFreeIrp(Irp);
    KeSetEvent(&Connection->Closed, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

VOID SeedCloseSocket(PSEED_CONNECTION Connection)
{
    PWSK_PROVIDER_BASIC_DISPATCH Dispatch;
    PIRP Irp;

    if (InterlockedCompareExchange(&Connection->CloseStarted, 1, 0) != 0) {
        return;
    }
    Irp = IoAllocateIrp(1, FALSE);
    if (Irp == NULL) {
        Connection->CloseStatus = STATUS_INSUFFICIENT_RESOURCES;
        KeSetEvent(&Connection->Closed, IO_NO_INCREMENT, FALSE);
        return;
    }
    IoSetCompletionRoutine(Irp, SeedCloseComplete, Connection, TRUE, TRUE, TRUE);
    Dispatch = (PWSK_PROVIDER_BASIC_DISPATCH)Connection->Socket->Dispatch;
    /* The completion routine reports the outcome; WskCloseSocket completes the IRP in
       every case. */
    (VOID)Dispatch->WskCloseSocket(Connection->Socket, Irp);
}

/* Appends the bytes a WSK_BUF describes (an MDL chain, Offset into the first MDL) to
   SeedRecord.EventData. */
static VOID SeedRecordIndication(PWSK_BUF Buffer)
{
    PMDL Mdl = Buffer->Mdl;
    ULONG Offset = Buffer->Offset;
    SIZE_T Left = Buffer->Length;

    SeedRecord.EventIndications++;
    while (Left > 0 && Mdl != NULL) {
        ULONG MdlBytes = MmGetMdlByteCount(Mdl);
        PUCHAR Va;
        SIZE_T Chunk;

        if (Offset >= MdlBytes) {
            Offset -= MdlBytes;
            Mdl = Mdl->Next;
            continue;
        }
        Va = (PUCHAR)MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority);
        if (Va == NULL) {
            break;
        }
        Chunk = MdlBytes - Offset;
        if (Chunk > Left) {
            Chunk = Left;
        }
        if (SeedRecord.EventBytes + Chunk > SeedRecord.EventCapacity) {
            /* More than the peer was asked to send: keep counting, stop copying. */
            SeedRecord.EventBytes += Chunk;
        } else {
            RtlCopyMemory(SeedRecord.EventData + SeedRecord.EventBytes, Va + Offset, Chunk);
            SeedRecord.EventBytes += Chunk;
        }
        Left -= Chunk;
        Offset = 0;
        Mdl = Mdl->Next;
    }
    if (Left != 0) {
        SeedRecord.EventBadCopies++;
    }
    if (SeedRecord.EventBytes >= SeedRecord.EventExpected) {
        KeSetEvent(&SeedRecord.EventDone, IO_NO_INCREMENT, FALSE);
    }
}

/* ===== The first example, as written ===== */

// Prototype for the receive IoCompletion routine
NTSTATUS
  ReceiveComplete(
    PDEVICE_OBJECT DeviceObject,
    PIRP Irp,
    PVOID Context
    );

// Function to receive data
NTSTATUS
  ReceiveData(
    PWSK_SOCKET Socket,
    PWSK_BUF DataBuffer
    )
{
  PWSK_PROVIDER_CONNECTION_DISPATCH Dispatch;
  PIRP Irp;
  NTSTATUS Status;

  // Get pointer to the provider dispatch structure
  Dispatch =
    (PWSK_PROVIDER_CONNECTION_DISPATCH)(Socket->Dispatch);

  // Allocate an IRP
  Irp =
    IoAllocateIrp(
      1,
      FALSE
      );

  // Check result
  if (!Irp)
  {
    // Return error
    return STATUS_INSUFFICIENT_RESOURCES;
  }

  // Set the completion routine for the IRP
  IoSetCompletionRoutine(
    Irp,
    ReceiveComplete,
    DataBuffer,  // Use the data buffer for the context
    TRUE,
    TRUE,
    TRUE
    );

  // Initiate the receive operation on the socket
  Status =
    Dispatch->WskReceive(
      Socket,
      DataBuffer,
      0,  // No flags are specified
      Irp
      );

  // Return the status of the call to WskReceive()
  return Status;
}

// Receive IoCompletion routine
NTSTATUS
  ReceiveComplete(
    PDEVICE_OBJECT DeviceObject,
    PIRP Irp,
    PVOID Context
    )
{
  UNREFERENCED_PARAMETER(DeviceObject);

  PWSK_BUF DataBuffer;
  ULONG ByteCount;

  // Check the result of the receive operation
  if (Irp->IoStatus.Status == STATUS_SUCCESS)
  {
    // Get the pointer to the data buffer
    DataBuffer = (PWSK_BUF)Context;
 
    // Get the number of bytes received
    ByteCount = (ULONG)(Irp->IoStatus.Information);

    // Process the received data
    // [filled in]
    SeedRecord.ReceiveStatus = STATUS_SUCCESS;
    SeedRecord.ReceiveBytes = ByteCount;
    SeedRecord.ReceiveBuffer = DataBuffer;
    KeSetEvent(&SeedRecord.ReceiveDone, IO_NO_INCREMENT, FALSE);
  }

  // Error status
  else
  {
    // Handle error
    // [filled in]
    SeedRecord.ReceiveStatus = Irp->IoStatus.Status;
    SeedRecord.ReceiveBytes = 0;
    KeSetEvent(&SeedRecord.ReceiveDone, IO_NO_INCREMENT, FALSE);
  }

  // Free the IRP
  IoFreeIrp(Irp);

  // Always return STATUS_MORE_PROCESSING_REQUIRED to
  // terminate the completion processing of the IRP.
  return STATUS_MORE_PROCESSING_REQUIRED;
}

/* ===== The second example, as written ===== */

// A connection-oriented socket's WskReceiveEvent
// event callback function
NTSTATUS WSKAPI
  WskReceiveEvent(
    PVOID SocketContext,
    ULONG Flags,
    PWSK_DATA_INDICATION DataIndication,
    SIZE_T BytesIndicated,
    SIZE_T *BytesAccepted
    )
{
  // Check for a valid data indication
  if (DataIndication != NULL)
  {
    // Loop through the list of data indication structures
    while (DataIndication != NULL)
    {
      // Process the data in the data indication structure
      // [filled in]
      SeedRecordIndication(&DataIndication->Buffer);

      // Move to the next data indication structure
      DataIndication = DataIndication->Next;
    }

    // Return status indicating the data was received
    return STATUS_SUCCESS;
  }

  // Error
  else
  {
    // Close the socket
    // [filled in]
    InterlockedIncrement(&SeedRecord.NullIndications);
    SeedCloseSocket((PSEED_CONNECTION)SocketContext);

    // Return success since no data was indicated
    return STATUS_SUCCESS;
  }
}
